"""The Lightning Trainer the search and train stages run in, and their step budgets."""

from __future__ import annotations

import io
import math
import sys
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..atomic_files import write_atomically
from ..callbacks.progress import ProgressLines
from ..config import RunConfig
from ..errors import UserInputError
from ..loggers import make_loggers

MAX_VALIDATIONS = 10  # per stage: a 300-epoch search on a tiny archive need not validate (and plot) 300 times


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, renaming a complete file into place: its own opens the previous
    checkpoint for writing first, so a full disk would leave neither."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomically(path, buffer.getvalue())


def check_resumable(path: Path, module: L.LightningModule, stage: str = "search") -> dict:
    """Refuses, before a Trainer writes anything into the run, a checkpoint that is not readable as plain
    tensors (empty, truncated, or carrying code: ``weights_only``) or belongs to another network; returns
    the checkpoint (the search and the retrain both resume through it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        weights = state["state_dict"]
    except Exception:  # noqa: BLE001 - torch raises many types for a bad file; all mean "cannot resume"
        raise UserInputError(f"resume: {path} cannot continue this {stage} (not a plain-tensor Lightning checkpoint: "
                             "empty, truncated, or holding code)") from None
    try:
        module.load_state_dict(weights)  # only a check: fit restores it again
    except (RuntimeError, KeyError, TypeError):
        raise UserInputError(f"resume: {path} cannot continue this {stage} (its tensors are another network's: "
                             "another preset, data shape or version)") from None
    return state


def make_trainer(cfg: RunConfig, out_dir: Path, name: str, epochs: int, steps: int, callbacks: list,
                 **extra) -> L.Trainer:
    options = dict(cfg.trainer)
    options.setdefault("enable_progress_bar", sys.stdout.isatty())  # a bar on a terminal; in pipes, ProgressLines
    options.setdefault("enable_model_summary", False)
    options.setdefault("deterministic", True)  # same seed, same genotype; GPU configs relax it to "warn"
    options.setdefault("check_val_every_n_epoch", max(1, epochs // MAX_VALIDATIONS))
    return L.Trainer(
        max_epochs=epochs, default_root_dir=str(out_dir), callbacks=[*callbacks, ProgressLines(name, steps)],
        logger=make_loggers(cfg.logger, out_dir, name) or False, num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()], **options, **extra,
    )


def wall_clock_cap(minutes: float | None) -> timedelta | None:
    """Lightning's ``max_time`` for a cap in minutes (None: no cap)."""
    return None if minutes is None else timedelta(minutes=minutes)


def budget(epochs: int | None, steps: int, steps_per_epoch: int) -> tuple[int, int]:
    """(epochs, batches): ``epochs`` when set, else enough epochs for ``steps`` batches."""
    epochs = epochs or math.ceil(steps / steps_per_epoch)
    return epochs, epochs * steps_per_epoch
