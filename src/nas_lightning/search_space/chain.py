"""The chain: a plain list of layers, the architecture record of TI's standard models (and of any
single-path network, and the genotype of ``space=chain``): optional input BatchNorm, then conv-BN-ReLU,
depthwise-separable (depthwise conv-BN-ReLU, pointwise conv-BN-ReLU) and max-pool layers, then global
average pooling → Linear (or flatten → Linear). A conv may be dilated (padding dilation x (k // 2)).

A plain record that prints, saves and loads as JSON (``{"kind": "chain", ...}``), beside the cell
genotype; ``architecture.py`` dispatches between the two. Lengths follow PyTorch's arithmetic with
padding d (k // 2): floor((L + 2 d (k // 2) - d (k - 1) - 1) / s) + 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from dataclasses import asdict, dataclass, field

from ..atomic_files import write_atomically
from ..errors import UserInputError

LAYER_KINDS = ("conv", "dwsep", "max_pool")
WEIGHTED = ("conv", "dwsep")  # the kinds that set their output channels
HEADS = ("gap", "flatten")


@dataclass(frozen=True)
class Layer:
    kind: str  # "conv" (conv → BN → ReLU), "dwsep" (depthwise-separable conv) or "max_pool"
    kernel: int
    stride: int = 1
    out: int = 0  # output channels of a conv or dwsep; a pool keeps its input's
    dilation: int = 1  # a conv's dilation

    def __str__(self) -> str:
        if self.kind == "max_pool":
            return f"p({self.kernel},{self.stride})"
        dilated = f",d{self.dilation}" if self.dilation > 1 else ""
        return f"{'c' if self.kind == 'conv' else 's'}({self.out},{self.kernel},{self.stride}{dilated})"


def layer_length(length: int, kernel: int, stride: int, dilation: int = 1) -> int:
    return (length + 2 * dilation * (kernel // 2) - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class PlacedLayer:
    """A layer at its place: channels and lengths in and out."""
    layer: Layer
    c_in: int
    c_out: int
    length_in: int
    length_out: int


    def convs(self) -> list[tuple[int, int]]:
        """(weights, output channels) of each conv this layer runs: none for a pool, two for a dwsep."""
        k = self.layer.kernel
        if self.layer.kind == "conv":
            return [(self.c_in * self.c_out * k, self.c_out)]
        if self.layer.kind == "dwsep":
            return [(self.c_in * k, self.c_in), (self.c_in * self.c_out, self.c_out)]
        return []


@dataclass(frozen=True)
class Chain:
    layers: list[Layer]
    input_bn: bool = True  # BatchNorm over the raw input channels (folded into the first conv on export)
    head: str = "gap"  # "gap": global average pooling → Linear; "flatten": flatten → Linear
    meta: dict = field(default_factory=dict, compare=False)

    kind = "chain"

    def place(self, channels: int, length: int) -> list[PlacedLayer]:
        """Every layer with its channels and lengths, for an input of ``channels`` x ``length``."""
        placed, c, n = [], channels, length
        for layer in self.layers:
            c_out = layer.out if layer.kind in WEIGHTED else c
            n_out = layer_length(n, layer.kernel, layer.stride, layer.dilation)
            placed.append(PlacedLayer(layer, c, c_out, n, n_out))
            c, n = c_out, n_out
        return placed

    def head_features(self, channels: int, length: int) -> int:
        last = self.place(channels, length)[-1]
        return last.c_out * (last.length_out if self.head == "flatten" else 1)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **asdict(self)}, indent=2)

    def save(self, path: str | Path) -> None:
        write_atomically(path, self.to_json() + "\n")

    def __str__(self) -> str:
        stem = "bn " if self.input_bn else ""
        return f"chain[{stem}{' '.join(map(str, self.layers))} -> {self.head}]"

    @classmethod
    def from_dict(cls, data: dict, source: str = "architecture") -> "Chain":
        """Build and validate; every problem is a one-line UserInputError naming ``source``."""
        layers = data.get("layers")
        if not isinstance(layers, list) or not layers:
            raise UserInputError(f"{source}: 'layers' must be a non-empty list of layers")
        parsed = []
        for i, item in enumerate(layers, start=1):
            if not isinstance(item, dict) or item.get("kind") not in LAYER_KINDS:
                raise UserInputError(f"{source}: layer {i} must be an object with kind one of {', '.join(LAYER_KINDS)}")
            values = {k: item.get(k, Layer.__dataclass_fields__[k].default) for k in ("kernel", "stride", "out", "dilation")}
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
                raise UserInputError(f"{source}: layer {i}: kernel, stride, out and dilation must be integers")
            if min(values["kernel"], values["stride"], values["dilation"]) < 1 or (item["kind"] in WEIGHTED and values["out"] < 1):
                raise UserInputError(f"{source}: layer {i}: kernel, stride and dilation must be >= 1 and a conv's out >= 1")
            if values["dilation"] > 1 and item["kind"] != "conv":
                raise UserInputError(f"{source}: layer {i}: only a conv may be dilated")
            parsed.append(Layer(item["kind"], **values))
        if parsed[0].kind != "conv":
            raise UserInputError(f"{source}: layer 1 must be a conv (the input BatchNorm folds into it)")
        head = data.get("head", "gap")
        if head not in HEADS:
            raise UserInputError(f"{source}: head {head!r} is not one of {', '.join(HEADS)}")
        meta = data.get("meta", {})
        return cls(parsed, bool(data.get("input_bn", True)), head, meta if isinstance(meta, dict) else {})
