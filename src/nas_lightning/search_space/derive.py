"""Discretisation: alphas → genotype (strongest input per node, best non-``none`` op on it)."""

from __future__ import annotations

import torch

from .genotype import Genotype
from .layout import edge_list, nodes_of
from .ops import PRIMITIVES

NONE, SKIP = PRIMITIVES.index("none"), PRIMITIVES.index("skip_connect")


def _best_choice(probs: torch.Tensor, edges: list[tuple[int, int]], node: int, banned: set[int]) -> tuple[float, str, int]:
    """(strength, op, source) of the strongest allowed op over all inputs of ``node``."""
    best = (-1.0, "", -1)
    for row, (src, dst) in enumerate(edges):
        if dst != node:
            continue
        for op, p in enumerate(probs[row].tolist()):
            if op not in banned and p > best[0]:
                best = (p, PRIMITIVES[op], src)
    return best


def derive_cell(alpha: torch.Tensor, max_skip: int | None, edge_weights: torch.Tensor | None = None) -> list[tuple[str, int]]:
    """``edge_weights`` (partial-channel search's edge normalisation) scale each edge's op strengths."""
    probs = torch.softmax(alpha.float(), dim=-1)
    if edge_weights is not None:
        probs = probs * edge_weights.float()[:, None]
    nodes = nodes_of(probs.shape[0])
    edges = edge_list(nodes)
    choices = [_best_choice(probs, edges, node, {NONE}) for node in range(1, nodes + 1)]
    if max_skip is not None:
        skips = sorted((c[0], k) for k, c in enumerate(choices) if c[1] == "skip_connect")
        for _, k in skips[: max(0, len(skips) - max_skip)]:  # replace the weakest skips first
            choices[k] = _best_choice(probs, edges, k + 1, {NONE, SKIP})
    return [(op, src) for _, op, src in choices]


def derive_genotype(alphas: dict[str, torch.Tensor], fanout: int, max_skip: int | None = None,
                    edge_weights: dict[str, torch.Tensor] | None = None) -> Genotype:
    cells = {t: derive_cell(a, max_skip, (edge_weights or {}).get(t)) for t, a in alphas.items()}
    concat = {f"{t}_concat": list(range(len(c) - fanout + 1, len(c) + 1)) for t, c in cells.items()}
    return Genotype(normal=cells["normal"], reduce=cells["reduce"], **concat)
