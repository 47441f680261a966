"""Macro layout shared by supernet, fixed network and cost model: channels and lengths per cell.

Reduction cells sit at 1/3 and 2/3 of the depth (stride 2, node channels doubled), as in DARTS.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ops import out_length


@dataclass(frozen=True)
class MacroSpec:
    layers: int
    nodes_per_layer: int
    init_channels: int
    init_channel_multiplier: int
    fanout_concat: int

    @classmethod
    def from_config(cls, preset) -> "MacroSpec":
        return cls(*(int(preset[k]) for k in cls.__dataclass_fields__))


@dataclass(frozen=True)
class CellPlan:
    reduction: bool
    c_in: int  # channels arriving from the previous cell (or the stem)
    c: int  # channels of every node inside the cell
    length_in: int
    length_out: int
    c_out: int  # channels of the concatenated output


STEM_KERNEL = 3  # taps of the stem conv


def reduction_indices(layers: int) -> tuple[int, int]:
    return layers // 3, 2 * layers // 3


def stem_channels(spec: MacroSpec) -> int:
    return spec.init_channel_multiplier * spec.init_channels


def plan_cells(spec: MacroSpec, length: int, concat_sizes: dict[bool, int] | None = None) -> list[CellPlan]:
    """One ``CellPlan`` per layer. ``concat_sizes`` overrides the output fan-in per cell type
    (a genotype may concatenate a different number of nodes than the preset's fanout)."""
    sizes = concat_sizes or {False: spec.fanout_concat, True: spec.fanout_concat}
    plans, c_in, c, length_now = [], stem_channels(spec), spec.init_channels, length
    reductions = reduction_indices(spec.layers)
    for layer in range(spec.layers):
        reduction = layer in reductions
        if reduction:
            c *= 2
        length_out = out_length(length_now, 2 if reduction else 1)
        c_out = sizes[reduction] * c
        plans.append(CellPlan(reduction, c_in, c, length_now, length_out, c_out))
        c_in, length_now = c_out, length_out
    return plans


def edge_list(nodes: int) -> list[tuple[int, int]]:
    """(source, node) pairs in alpha row order: node 1 reads 0; node 2 reads 0, 1; ..."""
    return [(src, node) for node in range(1, nodes + 1) for src in range(node)]


def nodes_of(n_edges: int) -> int:
    """Inverse of ``len(edge_list(nodes))``: the node count of an alpha matrix with ``n_edges`` rows."""
    return next(n for n in range(1, n_edges + 1) if n * (n + 1) // 2 == n_edges)


def edge_stride(reduction: bool, source: int) -> int:
    return 2 if reduction and source == 0 else 1
