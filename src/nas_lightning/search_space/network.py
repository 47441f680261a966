"""The fixed network a genotype describes, built from the same op registry as the supernet.

``dims=1`` trains on (N, C, L); ``dims=2`` is the export twin on TI's (N, C, L, 1) layout with
(k, 1) kernels; with ``variables_as_width`` (NPU devices, whose first conv takes one input channel)
the export input is (N, 1, L, C) and the stem kernel (3, C): the same sums as the 1-D stem over C
channels. ``to_2d_state_dict`` moves trained weights across. Nodes that feed neither the
concatenation nor a live node are pruned: they would cost flash and cycles for nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from .genotype import Genotype
from .layout import STEM_KERNEL, MacroSpec, edge_stride, plan_cells, stem_channels
from .ops import build_op, conv_bn


def live_nodes(nodes: list[tuple[str, int]], concat: list[int]) -> set[int]:
    live, todo = set(), list(concat)
    while todo:
        k = todo.pop()
        if k not in live:
            live.add(k)
            src = nodes[k - 1][1]
            if src > 0:
                todo.append(src)
    return live


class FixedCell(nn.Module):
    def __init__(self, nodes, concat, c_in: int, c: int, reduction: bool, dims: int):
        super().__init__()
        self.nodes, self.concat = nodes, list(concat)
        self.live = sorted(live_nodes(nodes, concat))
        self.preprocess = conv_bn(c_in, c, 1, dims=dims)
        self.ops = nn.ModuleDict(
            {str(k): build_op(nodes[k - 1][0], c, edge_stride(reduction, nodes[k - 1][1]), dims) for k in self.live}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = {0: self.preprocess(x)}
        for k in self.live:  # ascending, so every input is ready
            states[k] = self.ops[str(k)](states[self.nodes[k - 1][1]])
        return torch.cat([states[k] for k in self.concat], dim=1)


class FixedNet(nn.Module):
    def __init__(self, genotype: Genotype, spec: MacroSpec, in_channels: int, length: int, num_classes: int, dims: int = 1,
                 variables_as_width: bool = False):
        super().__init__()
        self.genotype, self.spec, self.dims = genotype, spec, dims
        self.in_channels, self.variables_as_width = in_channels, variables_as_width
        sizes = {False: len(genotype.normal_concat), True: len(genotype.reduce_concat)}
        self.plans = plan_cells(spec, length, sizes)
        self.stem = conv_bn(in_channels, stem_channels(spec), STEM_KERNEL, dims=dims, relu=False)
        if variables_as_width:
            assert dims == 2, "the (N, 1, L, C) input is an export layout"
            self.stem[0] = nn.Conv2d(1, stem_channels(spec), (3, in_channels), padding=(1, 0), bias=False)
        self.cells = nn.ModuleList(
            FixedCell(*genotype.cell("reduce" if p.reduction else "normal"), p.c_in, p.c, p.reduction, dims)
            for p in self.plans
        )
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.plans[-1].c_out, num_classes)

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


def export_twin(net: FixedNet, variables_as_width: bool = False) -> FixedNet:
    """A 2-D copy of a trained 1-D network, in eval mode, for ONNX export."""
    twin = FixedNet(net.genotype, net.spec, net.in_channels, net.plans[0].length_in,
                    net.classifier.out_features, dims=2, variables_as_width=variables_as_width)
    twin.load_state_dict(to_2d_state_dict(net.state_dict(), variables_as_width))
    return twin.eval()
