"""Progress a person can follow in a terminal, a pipe and the run's log file alike: one compact line
each tenth of a stage's step budget (a 50-series archive has 1-2 batches per epoch, so per-epoch
lines would be hundreds), with the latest losses and accuracies Lightning holds."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger("nas_lightning.progress")
LINES = 10  # per stage
SHOWN = ("search/weight_loss", "search/alpha_loss", "search/val_acc", "train/loss", "train/acc", "val/acc")


class ProgressLines(L.Callback):
    def __init__(self, stage: str, total_steps: int):
        self.stage, self.total = stage, total_steps
        self.started, self.next_line = 0.0, 1

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        done = trainer.current_epoch * trainer.num_training_batches + batch_idx + 1  # the same after a resume
        if not trainer.is_global_zero or done * LINES < self.next_line * self.total:
            return
        self.next_line = done * LINES // self.total + 1
        metrics = trainer.callback_metrics
        shown = ", ".join(f"{k.split('/')[-1]} {float(metrics[k]):.3f}" for k in SHOWN if k in metrics)
        log.info("  %s %3d%%: step %d/%d, epoch %d, %.0f s%s", self.stage, 100 * done // self.total, done,
                 self.total, trainer.current_epoch + 1, time.perf_counter() - self.started,
                 f"; {shown}" if shown else "")
