"""Macro layout shared by supernet, fixed network, cost and memory models: channels and lengths per
cell, and the walks over them that all of those make.

Reduction cells sit at 1/3 and 2/3 of the depth (stride 2, node channels doubled), as in DARTS.
``NetShape`` is the one record of what a network's size depends on besides its genotype (the
preset's layout and the data's variables, length and classes), built once per run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from .genotype import CELL_TYPES, Genotype
from .ops import PRIMITIVES, out_length


@dataclass(frozen=True)
class MacroSpec:
    layers: int
    nodes_per_layer: int
    init_channels: int
    init_channel_multiplier: int
    fanout_concat: int

    @classmethod
    def from_config(cls, preset) -> "MacroSpec":
        """From a preset config (mapping or dataclass): its five layout fields."""
        get = preset.get if hasattr(preset, "get") else lambda k: getattr(preset, k)
        return cls(*(int(get(k)) for k in cls.__dataclass_fields__))


@dataclass(frozen=True)
class CellPlan:
    reduction: bool
    c_in: int  # channels arriving from the previous cell (or the stem)
    c: int  # channels of every node inside the cell
    length_in: int
    length_out: int
    c_out: int  # channels of the concatenated output

    def source_length(self, source: int) -> int:
        """Length of a cell state: the cell's input (state 0), or its node length (every node is ``length_out``)."""
        return self.length_in if source == 0 else self.length_out


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


def live_nodes(nodes: list[tuple[str, int]], concat: list[int]) -> set[int]:
    """Nodes that feed the concatenation, directly or through other live nodes (the rest are pruned)."""
    live, todo = set(), list(concat)
    while todo:
        k = todo.pop()
        if k not in live:
            live.add(k)
            src = nodes[k - 1][1]
            if src > 0:
                todo.append(src)
    return live


@dataclass(frozen=True)
class CellOps:
    """One cell of a genotype at its place in the network: its plan, nodes, concat and live nodes."""
    plan: CellPlan
    nodes: list[tuple[str, int]]
    concat: list[int]
    live: list[int]  # ascending: every node's input is computed before it


@dataclass(frozen=True)
class EdgeSlot:
    """One (cell, edge, candidate op) of the search space at its place, for the expected-cost tables."""
    cell_type: str
    plan: CellPlan
    row: int  # alpha row of the edge
    node: int  # the node the edge enters (it has ``node`` candidate inputs)
    stride: int
    length_in: int
    col: int  # alpha column of the op, 0 = the first op after ``none``
    op: str


@dataclass(frozen=True)
class NetShape:
    """What a network's size depends on besides its genotype: layout, input variables, length, classes."""
    spec: MacroSpec
    channels: int
    length: int
    classes: int

    def with_spec(self, spec: MacroSpec) -> "NetShape":
        return replace(self, spec=spec)

    def plans(self, genotype: Genotype | None = None) -> list[CellPlan]:
        """Per cell; a genotype's concat sizes may differ from the preset's fan-out."""
        sizes = None
        if genotype is not None:
            sizes = {False: len(genotype.normal_concat), True: len(genotype.reduce_concat)}
        return plan_cells(self.spec, self.length, sizes)

    def cells(self, genotype: Genotype) -> Iterator[CellOps]:
        """The walk the fixed network, the cost model and the memory model share."""
        for plan in self.plans(genotype):
            nodes, concat = genotype.cell("reduce" if plan.reduction else "normal")
            yield CellOps(plan, nodes, concat, sorted(live_nodes(nodes, concat)))

    def edge_slots(self) -> Iterator[EdgeSlot]:
        """Every candidate (edge, non-``none`` op) of every cell: what the expected-cost tables weigh."""
        assert PRIMITIVES[0] == "none", "the tables skip column 0"
        edges = edge_list(self.spec.nodes_per_layer)
        for cell_type in CELL_TYPES:
            for plan in self.plans():
                if plan.reduction != (cell_type == "reduce"):
                    continue
                for row, (src, node) in enumerate(edges):
                    for col, op in enumerate(PRIMITIVES[1:]):
                        yield EdgeSlot(cell_type, plan, row, node, edge_stride(plan.reduction, src),
                                       plan.source_length(src), col, op)
