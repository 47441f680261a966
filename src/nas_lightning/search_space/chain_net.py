"""The network a chain describes (``chain.py``): input BN, conv-BN-ReLU / max-pool layers, head.

``dims=1`` trains on (N, C, L); ``dims=2`` is the export twin on TI's (N, C, L, 1) layout with (k, 1)
kernels, or (N, 1, L, C) with a (k, C) first kernel (``variables_as_width``, NPU devices: the same
sums as the 1-D first conv over C channels).

The input BN is applied to the zero-padded input, and the first conv itself pads nothing: then BN
folds into the first conv exactly (the padded zeros of the ONNX Conv are the raw zeros this pads),
so the export twin has no BN layer before its first conv, which onnxruntime could not quantize.
TI's models pad after their input BN; the difference is the value of k // 2 border samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .chain import Chain
from .layout import NetShape
from .ops import batch_norm, pool


def _conv(c_in: int, c_out: int, k: int, stride: int, dims: int, dilation: int = 1, groups: int = 1) -> nn.Module:
    """A biased conv with 'same' padding along time (kernel (k, 1) in 2-D), dilated or grouped."""
    if dims == 1:
        return nn.Conv1d(c_in, c_out, k, stride, dilation * (k // 2), dilation, groups)
    return nn.Conv2d(c_in, c_out, (k, 1), (stride, 1), (dilation * (k // 2), 0), (dilation, 1), groups)


def _layer(placed, dims: int, first: bool, first_kernel_width: int = 1) -> nn.Module:
    layer = placed.layer
    if layer.kind == "max_pool":
        return pool("max_pool", layer.kernel, layer.stride, dims)
    if layer.kind == "dwsep":  # depthwise conv-BN-ReLU, then pointwise conv-BN-ReLU
        return nn.Sequential(_conv(placed.c_in, placed.c_in, layer.kernel, layer.stride, dims, groups=placed.c_in),
                             batch_norm(placed.c_in, dims), nn.ReLU(),
                             _conv(placed.c_in, placed.c_out, 1, 1, dims), batch_norm(placed.c_out, dims), nn.ReLU())
    if first and first_kernel_width > 1:  # (N, 1, L, C) input: a (k, C) kernel
        c = nn.Conv2d(1, placed.c_out, (layer.kernel, first_kernel_width), (layer.stride, 1),
                      padding=(layer.dilation * (layer.kernel // 2), 0), dilation=(layer.dilation, 1))
    else:
        c = _conv(placed.c_in, placed.c_out, layer.kernel, layer.stride, dims, layer.dilation)
    if first and dims == 1:  # the net pads before the input BN (see the module docstring)
        c.padding = (0,)
    return nn.Sequential(c, batch_norm(placed.c_out, dims), nn.ReLU())


class ChainNet(nn.Module):
    def __init__(self, chain: Chain, shape: NetShape, dims: int = 1, variables_as_width: bool = False):
        super().__init__()
        self.arch, self.shape, self.dims, self.variables_as_width = chain, shape, dims, variables_as_width
        assert not variables_as_width or dims == 2, "the (N, 1, L, C) input is an export layout"
        placed = chain.place(shape.channels, shape.length)
        self.pad = chain.layers[0].dilation * (chain.layers[0].kernel // 2)
        # training nets carry the input BN; export twins have it folded into the first conv (``twin``)
        self.input_bn = batch_norm(shape.channels, 1) if chain.input_bn and dims == 1 else None
        width = shape.channels if variables_as_width else 1
        self.layers = nn.Sequential(*(_layer(p, dims, i == 0, width) for i, p in enumerate(placed)))
        self.pool = (nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)) if chain.head == "gap" else None
        self.classifier = nn.Linear(chain.head_features(shape.channels, shape.length), shape.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims == 1:
            x = F.pad(x, (self.pad, self.pad))
            if self.input_bn is not None:
                x = self.input_bn(x)
        s = self.layers(x)
        if self.pool is not None:
            s = self.pool(s)
        return self.classifier(torch.flatten(s, 1))

    def quant_blocks(self) -> list[nn.Module]:
        """The modules whose outputs the int8 graph quantizes (fake-quantized by QAT)."""
        return [*self.layers, *([self.pool] if self.pool is not None else []), self.classifier]

    def twin(self, variables_as_width: bool = False) -> "ChainNet":
        """A 2-D copy of this trained 1-D network, in eval mode, for ONNX export; the input BN folded
        into the first conv."""
        twin = ChainNet(self.arch, self.shape, dims=2, variables_as_width=variables_as_width)
        state = {k: v.unsqueeze(-1) if k.endswith("weight") and v.dim() == 3 else v
                 for k, v in self.state_dict().items() if not k.startswith("input_bn.")}
        first = self.layers[0][0]
        weight, bias = first.weight.detach(), first.bias.detach()
        if self.input_bn is not None:  # conv(a x + b) = (W a) x + (bias + sum W b)
            bn = self.input_bn
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias.detach() - bn.running_mean * scale
            bias = bias + (weight * shift[None, :, None]).sum(dim=(1, 2))
            weight = weight * scale[None, :, None]
        key = "layers.0.0"
        state[f"{key}.weight"] = weight.transpose(1, 2).unsqueeze(1) if variables_as_width else weight.unsqueeze(-1)
        state[f"{key}.bias"] = bias
        twin.load_state_dict(state)
        return twin.eval()
