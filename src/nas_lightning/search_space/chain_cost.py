"""Differentiable expected cost of the chain the supernet would derive (``space=chain``), for the
resource penalty (Memory: deployed parameters, Compute: MACs) and the alpha monitor.

Layers draw op, width and stride independently (softmax of each row). A layer's input width is the
last conv's width before it (pools and skips pass theirs on), so E[c_in] runs through the layers as
E[c_in'] = P(conv-like) E[width] + P(pool or skip) E[c_in]; parameters k E[c_in] E[c_out] are then
exact expectations (the factors depend on disjoint choices). The output length depends only on how
many present layers strided before (every kernel is odd, padded d (k // 2): ceil(L / 2^n)), tracked
as a distribution over n; MACs multiply E[c_in] E[c_out] E[L_out], which ignores their correlation
through earlier skips. With one-hot alphas all of it equals ``chain_cost`` of the derived chain
(tested). Counts follow ``cost.py``: biased convs, BN folded on deployment; ``pool_reads`` (max pools and
the global pool) and ``linear_macs`` (the head) too, so that ``add_metric`` gives the latency model
(``latency.py``, ``mode=Latency``) its expectation, exact at one-hot alphas like the MACs.
"""

from __future__ import annotations

import itertools

import torch

from .chain import Chain
from .chain_space import CHAIN_OPS, OP_NAMES, STRIDES, ChainSpace
from .cost import METRICS, chain_cost

POOL = OP_NAMES.index("max_pool_3")


class ExpectedChainCost:
    def __init__(self, space: ChainSpace):
        self.space = space
        self.lengths = torch.tensor([float(-(-space.length // 2**n)) for n in range(space.depth + 1)])
        self.widths = torch.tensor([float(w) for w in space.widths])
        self.derived: dict[str, tuple[dict[str, float], float]] = {}

    def __call__(self, alphas: dict[str, torch.Tensor], metric: str) -> torch.Tensor:
        return self.all(alphas)[metric]

    def add_metric(self, name: str, coefficients: dict[str, float], constant: float = 0.0) -> None:
        """A derived metric, ``constant + sum(coefficient x metric)`` (as ``ExpectedCost.add_metric``)."""
        self.derived[name] = (coefficients, constant)

    def knows(self, metric: str) -> bool:
        return metric in METRICS or metric in self.derived

    def all(self, alphas: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        s = self.space
        p_op, p_w, p_s = (torch.softmax(alphas[g].float(), -1) for g in ("op", "width", "stride"))
        lengths, widths = self.lengths.to(p_op.device), self.widths.to(p_op.device)
        c_in = p_op.new_tensor(float(s.channels))
        strided = torch.zeros_like(lengths)
        strided[0] = 1  # P(n layers strided so far)
        zero = p_op.new_zeros(())
        total = {m: zero for m in METRICS}
        total["params"] = zero + (2 * s.channels if s.input_bn else 0)
        for i in range(s.depth):
            c_out = (p_w[i] * widths).sum()
            shifted = torch.cat([strided.new_zeros(1), strided[:-1]])
            here = strided * p_s[i, 0] + shifted * p_s[i, 1]  # the length distribution if this layer is present
            length = (here * lengths).sum()
            conv_like = zero
            for j, name in enumerate(OP_NAMES):
                op = CHAIN_OPS[name]
                if op.kind == "conv":
                    convs = [(op.kernel * c_in * c_out, c_out)]
                elif op.kind == "dwsep":
                    convs = [(op.kernel * c_in, c_in), (c_in * c_out, c_out)]
                else:
                    continue
                conv_like = conv_like + p_op[i, j]
                for weights, channels in convs:
                    total["params"] = total["params"] + p_op[i, j] * (weights + 3 * channels)
                    total["deployed"] = total["deployed"] + p_op[i, j] * (weights + channels)
                    total["macs"] = total["macs"] + p_op[i, j] * weights * length
            total["pool_reads"] = total["pool_reads"] + p_op[i, POOL] * c_in * length * CHAIN_OPS["max_pool_3"].kernel
            present = 1 - p_op[i, OP_NAMES.index("skip")]
            strided = strided * (1 - present * p_s[i, 1]) + shifted * present * p_s[i, 1]
            c_in = conv_like * c_out + (1 - conv_like) * c_in
        head = c_in * s.classes
        total["params"] = total["params"] + head + s.classes
        total["deployed"] = total["deployed"] + head + s.classes
        total["macs"] = total["macs"] + head
        total["linear_macs"] = head
        total["pool_reads"] = total["pool_reads"] + c_in * (strided * lengths).sum()  # the global pool
        for name in self.derived:
            total[name] = self._derive(name, total.__getitem__)
        return total

    def _derive(self, metric: str, count) -> float | torch.Tensor:
        """A derived metric from ``count(m)`` of the counts it sums (expected tensors or a chain's ``Cost``)."""
        coefficients, constant = self.derived[metric]
        return constant + sum(c * count(m) for m, c in coefficients.items())

    def minimum(self, metric: str) -> float:
        """The cheapest chain of the space: where the log penalty is zero (see ``smallest_chains``)."""
        costs = [chain_cost(c, self.space.shape) for c in smallest_chains(self.space)]
        return float(min(self._derive(metric, c.get) if metric in self.derived else c.get(metric) for c in costs))


def smallest_chains(space: ChainSpace) -> list[Chain]:
    """Every chain that can be the cheapest in parameters or MACs: a first and a last layer of every
    allowed op, width and stride, with nothing between (fewest parameters) or strided max pools between
    (fewest MACs in the last layer)."""
    out = []
    middles = [[]]
    if space.depth > 2 and "max_pool_3" in space.allowed_ops(1):
        middles.append([CHAIN_OPS["max_pool_3"].layer(0, 2)] * (space.depth - 2))
    last_widths = [w for w in space.widths if w >= space.min_head_width]
    for first, w1, s1 in itertools.product(space.allowed_ops(0), space.widths, STRIDES):
        for last, w2, s2 in itertools.product(space.allowed_ops(space.depth - 1), last_widths, STRIDES):
            for middle in middles:
                layers = [CHAIN_OPS[first].layer(w1, s1), *middle, CHAIN_OPS[last].layer(w2, s2)]
                out.append(Chain(layers, space.input_bn, "gap"))
    return out

