"""The DARTS supernet: every edge carries every primitive, mixed by softmax(alpha).

Speed (the search step is the hot path): all edges leaving one state share its input, so per
source state we run ONE convolution producing every conv op of every outgoing edge (kernels 3
and 5 are zero-masked inside a 7-wide kernel; BN is per channel, so one non-affine BN over the
stacked channels equals one BN per op), and the parameter-free pools (with their non-affine BN)
once, shared by all outgoing edges. The ``none`` op contributes zero and is never computed.

Partial channels (PC-DARTS, Xu et al., 2020; ``partial`` = K > 1): only every K-th channel of a state
(about 1/K of them, at least one) goes through the mixed ops; the other channels bypass them, summed into each destination node as they
are (max-pooled on strided edges). The mixed ops' convolutions then cost ~1/K^2 and their activations
1/K. Each node's incoming edges are weighted by a softmax over per-edge ``betas`` (edge
normalisation), which steadies the alphas against the channel sampling; derivation ranks inputs by
op weight times edge weight. Node states are laid out [mixed channels, bypassed channels], so the
next source's strided pick mixes both (the role of PC-DARTS' channel shuffle).
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
import torch.nn.functional as F
from torch import nn

from .derive import derive_genotype
from .genotype import CELL_TYPES, Genotype
from .layout import STEM_KERNEL, NetShape, edge_list, edge_stride, stem_channels
from .ops import OPS, POOL_KINDS, PRIMITIVES, batch_norm, conv_bn, pool

CONV_OPS = [name for name in PRIMITIVES if OPS[name].kind == "conv"]
POOL_OPS = [name for name in PRIMITIVES if OPS[name].kind in POOL_KINDS]
SKIP_OP = next(name for name in PRIMITIVES if OPS[name].kind == "skip")
MAX_KERNEL = max(OPS[name].kernel for name in CONV_OPS)
# alpha columns of each op group, looked up once rather than in every forward
CONV_COLS = [PRIMITIVES.index(o) for o in CONV_OPS]
POOL_COLS = [PRIMITIVES.index(o) for o in POOL_OPS]
SKIP_COL = PRIMITIVES.index(SKIP_OP)


def mean_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean over edges of the entropy of each edge's op distribution: ln(ops) undecided, 0 decided."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()


class SourceOps(nn.Module):
    """All ops on the edges leaving one state, towards ``n_dest`` later nodes."""

    def __init__(self, channels: int, n_dest: int, stride: int, partial: int = 1):
        super().__init__()
        self.n_dest, self.stride = n_dest, stride
        self.group = channels // max(1, channels // partial)  # every group-th channel goes through the ops
        picked = torch.arange(0, channels, self.group)
        bypass = torch.tensor([i for i in range(channels) if i % self.group], dtype=torch.long)
        self.register_buffer("picked", picked, persistent=False)
        self.register_buffer("bypass", bypass, persistent=False)
        self.channels = channels = len(picked)
        self.bypass_pool = pool("max_pool", 3, stride) if stride > 1 and len(bypass) else None
        n_conv = len(CONV_OPS)
        self.conv = nn.Conv1d(channels, n_dest * n_conv * channels, MAX_KERNEL, stride, MAX_KERNEL // 2, bias=False)
        mask = torch.zeros(n_dest, n_conv, channels, 1, MAX_KERNEL)
        for k, name in enumerate(CONV_OPS):
            half = OPS[name].kernel // 2
            mask[:, k, ..., MAX_KERNEL // 2 - half : MAX_KERNEL // 2 + half + 1] = 1
        self.register_buffer("mask", mask.reshape(-1, 1, MAX_KERNEL), persistent=False)
        self.conv_bn = batch_norm(n_dest * n_conv * channels, affine=False)
        self.pools = nn.ModuleList(pool(OPS[name].kind, OPS[name].kernel, stride) for name in POOL_OPS)
        self.pool_bn = batch_norm(len(POOL_OPS) * channels, affine=False)
        # A strided skip is a 1x1 conv + BN per edge; a unit-stride skip is the shared identity.
        self.skip = None if stride == 1 else conv_bn(channels, n_dest * channels, 1, stride, relu=False, affine=False)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(channels through the ops, bypassing channels at the edges' stride or None)."""
        if not len(self.bypass):
            return x, None
        rest = x.index_select(1, self.bypass)
        return x.index_select(1, self.picked), rest if self.bypass_pool is None else self.bypass_pool(rest)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``x``: the picked channels; ``weights``: (n_dest, len(PRIMITIVES)) op weights; returns
        (N, n_dest, C', L') with C' the picked channel count."""
        n, c = x.shape[0], self.channels
        w = self.conv.weight * self.mask
        convs = F.relu(self.conv_bn(F.conv1d(x, w, None, self.stride, MAX_KERNEL // 2)))
        convs = convs.view(n, self.n_dest, len(CONV_OPS), c, -1)
        w_conv = weights[:, CONV_COLS]
        out = (convs * w_conv[None, :, :, None, None]).sum(2)
        pooled = self.pool_bn(torch.cat([p(x) for p in self.pools], 1)).view(n, len(POOL_OPS), c, -1)
        w_pool = weights[:, POOL_COLS]
        out = out + torch.einsum("npcl,dp->ndcl", pooled, w_pool)
        w_skip = weights[:, SKIP_COL, None, None]
        skip = x.unsqueeze(1) if self.skip is None else self.skip(x).view(n, self.n_dest, c, -1)
        return out + skip * w_skip


class SearchCell(nn.Module):
    def __init__(self, c_in: int, c: int, nodes: int, reduction: bool, fanout: int, partial: int = 1):
        super().__init__()
        self.nodes, self.fanout, self.reduction = nodes, fanout, reduction
        self.preprocess = conv_bn(c_in, c, 1, affine=False)
        self.sources = nn.ModuleList(
            SourceOps(c, nodes - src, edge_stride(reduction, src), partial) for src in range(nodes)
        )
        edges = edge_list(nodes)
        # rows of the alpha matrix for the edges leaving each source, in destination order
        self.rows = [[edges.index((src, d)) for d in range(src + 1, nodes + 1)] for src in range(nodes)]

    def forward(self, x: torch.Tensor, weights: torch.Tensor, edges: torch.Tensor | None = None) -> torch.Tensor:
        """``weights``: (edges, ops) op weights; ``edges``: (edges,) edge weights, or None for all ones."""
        states = [self.preprocess(x)]
        pending: list[list[torch.Tensor]] = [[] for _ in range(self.nodes)]  # per node: mixed part, bypass part
        for src, ops in enumerate(self.sources):
            picked, rest = ops.split(states[src])
            contrib = ops(picked, weights[self.rows[src]])
            for d in range(contrib.shape[1]):
                node = src + d  # index into pending: node number src + d + 1
                parts = [contrib[:, d]] if rest is None else [contrib[:, d], rest]
                if edges is not None:
                    parts = [p * edges[self.rows[src][d]] for p in parts]
                pending[node] = parts if not pending[node] else [a + b for a, b in zip(pending[node], parts)]
            states.append(pending[src][0] if len(pending[src]) == 1 else torch.cat(pending[src], 1))
        return torch.cat(states[-self.fanout :], dim=1)


class SuperNet(nn.Module):
    """Stem → cells → global average pool → linear. Alphas (and, with ``partial`` > 1, edge betas) are
    registered parameters. ``checkpoint`` recomputes each cell in the backward pass instead of keeping
    its activations (less memory, more time). ``banned`` ops (a device's rules) are masked out of every
    softmax: zero weight in the supernet, never derived, invisible to the cost terms."""

    def __init__(self, shape: NetShape, checkpoint: bool = False, partial: int = 1, banned: tuple[str, ...] = ()):
        super().__init__()
        unknown = set(banned) - set(PRIMITIVES)
        assert not unknown, f"banned ops {sorted(unknown)} are not primitives"
        self.register_buffer("banned", torch.tensor([op in banned for op in PRIMITIVES]), persistent=False)
        spec = self.spec = shape.spec
        self.checkpoint = checkpoint
        self.stem = conv_bn(shape.channels, stem_channels(spec), STEM_KERNEL, relu=False, affine=False)
        plans = shape.plans()
        self.cells = nn.ModuleList(
            SearchCell(p.c_in, p.c, spec.nodes_per_layer, p.reduction, spec.fanout_concat, partial) for p in plans
        )
        self.classifier = nn.Linear(plans[-1].c_out, shape.classes)
        self.edges = edge_list(spec.nodes_per_layer)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(len(self.edges), len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(len(self.edges), len(PRIMITIVES)))
        self.betas = None
        if partial > 1:
            self.betas = nn.ParameterDict({t: nn.Parameter(1e-3 * torch.randn(len(self.edges))) for t in CELL_TYPES})

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce] + ([] if self.betas is None else list(self.betas.values()))

    def weight_parameters(self) -> list[nn.Parameter]:
        alphas = {id(a) for a in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in alphas]

    def alpha(self, cell_type: str) -> nn.Parameter:
        return self.alphas_reduce if cell_type == "reduce" else self.alphas_normal

    def logits(self, cell_type: str) -> torch.Tensor:
        """The cell type's op logits: its alphas with banned ops at -inf."""
        return self.alpha(cell_type).masked_fill(self.banned, float("-inf"))

    def logit_groups(self) -> dict[str, torch.Tensor]:
        """Every alpha row group the search module steps, monitors and penalises: one per cell type."""
        return {t: self.logits(t) for t in CELL_TYPES}

    def skip_column(self, group: str) -> int | None:
        return SKIP_COL

    def alpha_labels(self, group: str) -> tuple[list[str], list[str]]:
        """(row, column) names of a group's alphas: edges (source → node) by ops."""
        return [f"{s}→{d}" for s, d in self.edges], list(PRIMITIVES)

    def edge_weights(self, cell_type: str) -> torch.Tensor | None:
        """Per edge, the softmax of its beta over the edges entering the same node (None: no betas)."""
        if self.betas is None:
            return None
        beta = self.betas[cell_type]  # edge_list runs node by node: node d's inputs are rows d(d-1)/2 .. d(d+1)/2
        return torch.cat([F.softmax(beta[d * (d - 1) // 2 : d * (d + 1) // 2], 0)
                          for d in range(1, self.spec.nodes_per_layer + 1)])

    def forward(self, x: torch.Tensor, detach_alphas: bool = False) -> torch.Tensor:
        probs = {t: (F.softmax(self.logits(t), dim=-1), self.edge_weights(t)) for t in CELL_TYPES}
        if detach_alphas:
            probs = {t: tuple(None if p is None else p.detach() for p in w) for t, w in probs.items()}
        s = self.stem(x)
        for cell in self.cells:
            ops, edges = probs["reduce" if cell.reduction else "normal"]
            if self.checkpoint and torch.is_grad_enabled():  # keep cell inputs only; recompute the inside in backward
                s = torch.utils.checkpoint.checkpoint(cell, s, ops, edges, use_reentrant=False)  # exact: batch-statistics BN
            else:
                s = cell(s, ops, edges)
        return self.classifier(s.mean(-1))

    def genotype(self, max_skip: int | None = None) -> Genotype:
        alphas = {t: self.logits(t).detach() for t in CELL_TYPES}
        edges = {t: w.detach() for t in CELL_TYPES if (w := self.edge_weights(t)) is not None}
        return derive_genotype(alphas, self.spec.fanout_concat, max_skip, edges or None)
