"""Cost model: parameters and MACs per op at its place in the network (its channels and length).

``params`` counts trained tensors (BN scale and shift included); ``deployed`` counts the graph after
BN is folded into the preceding conv (weights + one bias per output channel), which is what the
MCU stores. MACs count Conv and Linear multiply-accumulates at each op's real output length;
pools, BN (folded) and additions count none. The latency model (``latency.py``) also needs the work
that is not a MAC: ``linear_macs`` (the Linear share of ``macs``), ``pool_reads`` (window taps of
every pool, the global pool included) and ``moved`` (elements a concat copies). ``ExpectedCost`` is
the differentiable version over softmax(alpha) used by the resource penalty.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .chain import Chain
from .genotype import CELL_TYPES, Genotype
from .layout import STEM_KERNEL, NetShape, edge_list, edge_stride, stem_channels
from .ops import OPS, POOL_KINDS, PRIMITIVES, out_length

METRICS = ("params", "deployed", "macs", "linear_macs", "pool_reads", "moved")


@dataclass(frozen=True)
class Cost:
    params: int = 0
    deployed: int = 0
    macs: int = 0
    linear_macs: int = 0  # the Linear layer's part of ``macs``
    pool_reads: int = 0  # window taps read by pools (max/avg and the global pool)
    moved: int = 0  # activation elements copied without arithmetic (concat)

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def get(self, metric: str) -> int:
        return getattr(self, metric)


def conv_bn_cost(c_in: int, c_out: int, k: int, length_out: int) -> Cost:
    weights = c_in * c_out * k
    return Cost(weights + 2 * c_out, weights + c_out, weights * length_out)


def op_layer(op: str, channels: int, stride: int) -> tuple[int, int] | None:
    """(weights, biases) of the op's Conv after BN folding, or None when it has no parameters."""
    kind = OPS[op].kind
    if kind == "conv":
        return channels * channels * OPS[op].kernel, channels
    if kind == "skip" and stride > 1:  # a strided skip is a 1x1 conv + BN
        return channels * channels, channels
    return None


def op_cost(name: str, channels: int, stride: int, length_in: int) -> Cost:
    layer = op_layer(name, channels, stride)
    if layer is None:
        spec = OPS[name]
        is_pool = spec.kind in POOL_KINDS
        return Cost(pool_reads=channels * out_length(length_in, stride) * spec.kernel if is_pool else 0)
    weights, biases = layer
    return Cost(weights + 2 * biases, weights + biases, weights * out_length(length_in, stride))


def fixed_parts_cost(shape: NetShape, genotype: Genotype | None = None) -> Cost:
    """Stem, cell preprocessing convs and classifier: present whatever the cells choose."""
    total = conv_bn_cost(shape.channels, stem_channels(shape.spec), STEM_KERNEL, shape.length)
    plans = shape.plans(genotype)
    for p in plans:
        total += conv_bn_cost(p.c_in, p.c, 1, p.length_in) + Cost(moved=p.c_out * p.length_out)  # the concat
    c_last, classes = plans[-1].c_out, shape.classes
    head = c_last * classes
    return total + Cost(head + classes, head + classes, head, head, c_last * plans[-1].length_out)


def fixed_net_cost(genotype: Genotype, shape: NetShape) -> Cost:
    total = fixed_parts_cost(shape, genotype)
    for cell in shape.cells(genotype):
        p = cell.plan
        for k in cell.live:
            op, src = cell.nodes[k - 1]
            total += op_cost(op, p.c, edge_stride(p.reduction, src), p.source_length(src))
    return total


def chain_cost(chain: Chain, shape: NetShape) -> Cost:
    """A chain's convs carry a bias (TI's models do), folded together with BN's shift on export; the
    input BN folds into the first conv."""
    total = Cost(2 * shape.channels, 0, 0) if chain.input_bn else Cost()
    placed = chain.place(shape.channels, shape.length)
    for p in placed:
        for weights, c_out in p.convs():  # the conv's own bias is one more per output channel once folded
            total += Cost(weights + 3 * c_out, weights + c_out, weights * p.length_out)
        if p.layer.kind == "max_pool":
            total += Cost(pool_reads=p.c_out * p.length_out * p.layer.kernel)
    features, classes = chain.head_features(shape.channels, shape.length), shape.classes
    pooled = placed[-1].c_out * placed[-1].length_out if chain.head == "gap" else 0
    head = features * classes
    return total + Cost(head + classes, head + classes, head, head, pooled)


class ExpectedCost:
    """Differentiable expected cost of the network the supernet would derive.

    Each node of the derived network keeps one input and one non-``none`` op, so an edge's cost is
    its op costs weighted by softmax over the non-``none`` alphas, and a node's cost is the mean over
    its candidate inputs. Penalising ``none`` would be pointless: derivation never picks it.
    """

    def __init__(self, shape: NetShape):
        base = fixed_parts_cost(shape)
        self.constant = {m: float(base.get(m)) for m in METRICS}
        size = (len(METRICS), len(edge_list(shape.spec.nodes_per_layer)), len(PRIMITIVES) - 1)
        tables = {t: torch.zeros(size, dtype=torch.float64) for t in CELL_TYPES}
        for slot in shape.edge_slots():
            cost = op_cost(slot.op, slot.plan.c, slot.stride, slot.length_in)
            for i, m in enumerate(METRICS):
                tables[slot.cell_type][i, slot.row, slot.col] += cost.get(m) / slot.node
        self.tables = {m: {t: table[i].float() for t, table in tables.items()} for i, m in enumerate(METRICS)}

    def add_metric(self, name: str, coefficients: dict[str, float], constant: float = 0.0) -> None:
        """A derived metric, ``constant + sum(coefficient x metric)``: linear, so its expectation is the
        same sum of the metrics' expectations (how the latency model becomes a penalty)."""
        self.constant[name] = constant + sum(c * self.constant[m] for m, c in coefficients.items())
        self.tables[name] = {t: sum(c * self.tables[m][t] for m, c in coefficients.items())
                             for t in next(iter(self.tables.values()))}

    def __call__(self, alphas: dict[str, torch.Tensor], metric: str) -> torch.Tensor:
        total = next(iter(alphas.values())).new_tensor(self.constant[metric])
        for cell_type, alpha in alphas.items():
            probs = torch.softmax(alpha[:, 1:], dim=-1)
            total = total + (probs * self.tables[metric][cell_type].to(alpha.device)).sum()
        return total

    def knows(self, metric: str) -> bool:
        return metric in self.tables

    def maximum(self, metric: str) -> float:
        """Cost when every node takes its most expensive op."""
        return self.constant[metric] + sum(t.max(-1).values.sum().item() for t in self.tables[metric].values())

    def minimum(self, metric: str) -> float:
        """Cost when every node takes its cheapest op: where the log penalty is zero."""
        return self.constant[metric] + sum(t.min(-1).values.sum().item() for t in self.tables[metric].values())
