"""Logs how decided the search is: mean entropy of each cell type's op distribution and the
share of skip_connect, per step and per epoch, plus the derived genotype as text each epoch."""

from __future__ import annotations

import lightning as L
import torch

from ..search_space.genotype import CELL_TYPES
from ..search_space.ops import PRIMITIVES

SKIP = PRIMITIVES.index("skip_connect")


def alpha_entropy(alpha: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(alpha.detach(), dim=-1)
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()


class AlphaMonitor(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        stats = {}
        for t in CELL_TYPES:
            alpha = pl_module.supernet.alpha(t)
            stats[f"alpha/entropy_{t}"] = alpha_entropy(alpha)
            stats[f"alpha/skip_share_{t}"] = torch.softmax(alpha.detach(), -1)[:, SKIP].mean()
        pl_module.log_dict(stats, on_step=True, on_epoch=True)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                experiment.add_text("search/genotype", str(pl_module.supernet.genotype(pl_module.cfg.max_skip)), trainer.current_epoch)
