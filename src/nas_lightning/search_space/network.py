"""The fixed network a genotype describes, built from the same op registry as the supernet.

``dims=1`` trains on (N, C, L); ``dims=2`` is the export twin on TI's (N, C, L, 1) layout with
(k, 1) kernels; with ``variables_as_width`` (NPU devices, whose first conv takes one input channel)
the export input is (N, 1, L, C) and the stem kernel (3, C): the same sums as the 1-D stem over C
channels. ``twin`` builds the export copy and moves trained weights across (``to_2d_state_dict``). Nodes that feed neither the
concatenation nor a live node are pruned: they would cost flash and cycles for nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from .genotype import Genotype
from .layout import STEM_KERNEL, CellOps, NetShape, edge_stride, stem_channels
from .ops import build_op, conv_bn


class FixedCell(nn.Module):
    def __init__(self, cell: CellOps, dims: int):
        super().__init__()
        self.nodes, self.concat, self.live = cell.nodes, list(cell.concat), cell.live
        p = cell.plan
        self.preprocess = conv_bn(p.c_in, p.c, 1, dims=dims)
        self.ops = nn.ModuleDict(
            {str(k): build_op(self.nodes[k - 1][0], p.c, edge_stride(p.reduction, self.nodes[k - 1][1]), dims)
             for k in self.live}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = {0: self.preprocess(x)}
        for k in self.live:  # ascending, so every input is ready
            states[k] = self.ops[str(k)](states[self.nodes[k - 1][1]])
        return torch.cat([states[k] for k in self.concat], dim=1)


class FixedNet(nn.Module):
    def __init__(self, genotype: Genotype, shape: NetShape, dims: int = 1, variables_as_width: bool = False):
        super().__init__()
        self.genotype, self.shape, self.dims = genotype, shape, dims
        self.variables_as_width = variables_as_width
        stem = stem_channels(shape.spec)
        self.stem = conv_bn(shape.channels, stem, STEM_KERNEL, dims=dims, relu=False)
        if variables_as_width:
            assert dims == 2, "the (N, 1, L, C) input is an export layout"
            self.stem[0] = nn.Conv2d(1, stem, (3, shape.channels), padding=(1, 0), bias=False)
        cells = list(shape.cells(genotype))
        self.cells = nn.ModuleList(FixedCell(cell, dims) for cell in cells)
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cells[-1].plan.c_out, shape.classes)

    def quant_blocks(self) -> list[nn.Module]:
        """The modules whose outputs the int8 graph quantizes (fake-quantized by QAT)."""
        blocks: list[nn.Module] = [self.stem, self.pool, self.classifier]
        for cell in self.cells:
            blocks += [cell, cell.preprocess, *cell.ops.values()]
        return blocks

    def twin(self, variables_as_width: bool = False) -> "FixedNet":
        """A 2-D copy of this trained 1-D network, in eval mode, for ONNX export."""
        twin = FixedNet(self.genotype, self.shape, dims=2, variables_as_width=variables_as_width)
        twin.load_state_dict(to_2d_state_dict(self.state_dict(), variables_as_width))
        return twin.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        for cell in self.cells:
            s = cell(s)
        return self.classifier(torch.flatten(self.pool(s), 1))


def to_2d_state_dict(state: dict[str, torch.Tensor], variables_as_width: bool = False) -> dict[str, torch.Tensor]:
    """Conv1d weights (O, I, k) become Conv2d weights (O, I, k, 1), or (O, 1, k, I) for the stem with
    ``variables_as_width``; everything else is shared."""
    out = {k: v.unsqueeze(-1) if k.endswith("weight") and v.dim() == 3 else v for k, v in state.items()}
    if variables_as_width:
        out["stem.0.weight"] = state["stem.0.weight"].transpose(1, 2).unsqueeze(1)
    return out
