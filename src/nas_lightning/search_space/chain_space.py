"""``space=chain``: what each layer of the single-path search (FBNetV2 / MCUNet style) may choose.

Per layer three categorical choices, each a row of alphas: the operation (``CHAIN_OPS``), the output
width (``widths``: the NPU-legal ladder up to the preset's widest, FBNetV2's channel mask) and the
stride (1 or 2). ``skip`` removes the layer (its width and stride are then unused): depth is searched
too, up to ``depth`` layers. A max pool keeps its input's width.

Legal by construction (the ``banned`` masks, the same idea as the cell space's banned ops):
layer 1 is a plain conv (it takes the raw input: on NPU devices a (k, C) kernel over one channel); the
last layer is a conv or depthwise-separable conv, so the head's features are its width, at least
``min_head_width`` (the NPU's fully connected layer needs >= 16 inputs); the device's banned ops
(dilation on the NPU) are never chosen. The derivation keeps the final length >= ``min_length`` (the
NPU's global average pool needs > 2 samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .chain import Layer, layer_length
from .chain_presets import WIDTH_LADDER
from .layout import NetShape

STRIDES = (1, 2)


@dataclass(frozen=True)
class ChainOp:
    kind: str  # "conv", "dwsep", "max_pool" or "skip"
    kernel: int = 1
    dilation: int = 1

    def layer(self, width: int, stride: int) -> Layer:
        out = width if self.kind in ("conv", "dwsep") else 0
        return Layer(self.kind, self.kernel, stride, out, self.dilation)


CHAIN_OPS: dict[str, ChainOp] = {
    "conv_3": ChainOp("conv", 3),
    "conv_5": ChainOp("conv", 5),
    "conv_7": ChainOp("conv", 7),
    "dil_conv_3": ChainOp("conv", 3, 2),  # receptive field 5 at a 3-tap price (not on the NPU)
    "dwsep_7": ChainOp("dwsep", 7),  # depthwise 7 + pointwise: LITE's cheap wide kernel (NPU: depthwise <= 7)
    "max_pool_3": ChainOp("max_pool", 3),
    "skip": ChainOp("skip"),
}
OP_NAMES: list[str] = list(CHAIN_OPS)
SKIP = OP_NAMES.index("skip")
GROUPS = ("op", "width", "stride")


def widths_up_to(widest: int) -> tuple[int, ...]:
    return tuple(w for w in WIDTH_LADDER if w <= widest)


@dataclass(frozen=True)
class ChainSpace:
    channels: int
    length: int
    classes: int
    depth: int
    widths: tuple[int, ...]
    input_bn: bool = True
    banned_ops: tuple[str, ...] = ()  # the device's (dilated convs on NPU devices)
    min_head_width: int = 1
    min_length: int = 1

    @property
    def shape(self) -> NetShape:
        """The data's shape, as the chain cost and memory models read it (no cell layout: ``spec`` None)."""
        return NetShape(None, self.channels, self.length, self.classes)

    def choices(self, group: str) -> list[str]:
        return {"op": OP_NAMES, "width": [str(w) for w in self.widths], "stride": [str(s) for s in STRIDES]}[group]

    def allowed_ops(self, layer: int) -> list[str]:
        """The ops layer ``layer`` (0-based) may take."""
        ops = [o for o in OP_NAMES if o not in self.banned_ops]
        if layer == 0:
            ops = [o for o in ops if CHAIN_OPS[o].kind == "conv" and CHAIN_OPS[o].dilation == 1]
        if layer == self.depth - 1:
            ops = [o for o in ops if CHAIN_OPS[o].kind in ("conv", "dwsep")]
        return ops

    def banned(self, group: str) -> torch.Tensor:
        """(depth, choices) True where a choice is not allowed."""
        mask = torch.zeros(self.depth, len(self.choices(group)), dtype=torch.bool)
        for i in range(self.depth):
            if group == "op":
                allowed = self.allowed_ops(i)
                mask[i] = torch.tensor([o not in allowed for o in OP_NAMES])
            elif group == "width" and i == self.depth - 1:
                mask[i] = torch.tensor([w < self.min_head_width for w in self.widths])
        return mask

    def final_length(self, layers: list[Layer]) -> int:
        n = self.length
        for layer in layers:
            n = layer_length(n, layer.kernel, layer.stride, layer.dilation)
        return n
