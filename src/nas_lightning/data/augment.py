"""Training-batch augmentation shared by the search's weight step, the retrain and the QAT fine-tune."""

from __future__ import annotations

import torch

from ..config import AugmentConfig


def augment(x: torch.Tensor, cfg: AugmentConfig, seed: int = 0) -> torch.Tensor:
    """Jitter, amplitude scaling and a circular time shift per series (Le Guennec 2016; Iwana &
    Uchida 2021): cheap label-preserving changes that help on archives of a few dozen series. The
    draws come from ``seed`` alone (callers pass one per batch), so a resumed run replays them."""
    n, _, length = x.shape
    gen = torch.Generator().manual_seed(seed)
    if cfg.scale > 0:
        x = x * (1 + cfg.scale * torch.randn(n, 1, 1, generator=gen).to(x.device))
    if cfg.jitter > 0:
        x = x + cfg.jitter * torch.randn(x.shape, generator=gen).to(x.device)
    limit = int(cfg.shift * length)
    if limit > 0:
        shifts = torch.randint(-limit, limit + 1, (n,), generator=gen).to(x.device)
        index = (torch.arange(length, device=x.device)[None] - shifts[:, None]) % length
        x = x.gather(2, index[:, None, :].expand_as(x))
    return x


def batch_seed(seed: int, batch: int) -> int:
    """A seed for the random draws of one batch of a run seeded ``seed``."""
    return seed * 1_000_003 + batch
