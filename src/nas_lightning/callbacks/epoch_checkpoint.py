"""EpochCheckpoint: the retrain's whole state (weights, optimizer, schedule, loop position) saved at
the end of an epoch, at most every ``minutes``, so a killed retrain continues from there (``resume=``).

Why at an epoch's end: the batch order and augmentation are functions of (seed, epoch, step)
(data/datamodule.py, data/augment.py), so a fit continued from an epoch boundary takes the very steps
the uninterrupted one took; mid-epoch, Lightning cannot restore the position in the data. A
``Checkpoint`` subclass, so Lightning calls it after the module's own epoch end (the plateau schedule
has seen the epoch's loss by then)."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Checkpoint


class EpochCheckpoint(Checkpoint):
    def __init__(self, path: Path, minutes: float):
        self.path, self.seconds = Path(path), 60 * minutes
        self.last = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        due = trainer.strategy.broadcast(time.monotonic() - self.last >= self.seconds)  # every rank saves, or none
        if due:
            trainer.save_checkpoint(self.path)
            self.last = time.monotonic()
