"""Train stage: the chosen architecture's network trained from scratch for the budget (``train.*``). The last
weights go on to export and the final evaluation (and into checkpoints/train/last.ckpt); with
``train.fit_on=train`` the validation accuracy is measured here. The test split is not touched."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L

from ..callbacks.confusion import ConfusionMatrixPlot
from ..config import RunConfig
from ..data.datamodule import TimeSeriesDataModule
from ..modules.retrain import GenotypeRetrainModule
from ..search_space.architecture import Architecture, build_net
from ..search_space.layout import NetShape
from .trainer import make_trainer, wall_clock_cap


log = logging.getLogger(__name__)


@dataclass
class Trained:
    module: GenotypeRetrainModule
    trainer: L.Trainer  # kept for the final test (its callbacks draw the confusion matrix)
    data: TimeSeriesDataModule  # in the fit phase: what QAT fine-tunes on
    info: dict  # report.json's "train" block, before the test figures join it


def train_stage(cfg: RunConfig, dm: TimeSeriesDataModule, shape: NetShape, arch: Architecture, out_dir: Path) -> Trained:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = dm.with_phase(cfg.train.fit_on)
    epochs, steps = cfg.train.budget(data.steps_per_epoch())
    net = build_net(arch, shape)
    augment = cfg.augment.for_stage("train", cfg.data.cuts_windows)
    module = GenotypeRetrainModule(net, cfg.train, shape.classes, augment, cfg.seed)
    held_out = cfg.train.fit_on == "train"
    trainer = make_trainer(cfg, out_dir, "train", epochs, steps, [ConfusionMatrixPlot(out_dir, dm.splits.class_names)],
                           max_steps=steps, max_time=wall_clock_cap(cfg.train.max_minutes),
                           **({} if held_out else {"limit_val_batches": 0}))
    trainer.fit(module, datamodule=data)
    schedule = module.schedule.state() if module.schedule else {}
    end = schedule.get("end_step", steps)
    capped = trainer.global_step < end
    if capped:
        log.warning("retrain stopped by train.max_minutes=%g at step %d of %d (the learning rate had not decayed); "
                    "raise train.max_minutes or lower train.max_steps", cfg.train.max_minutes, trainer.global_step, end)
    trainer.save_checkpoint(out_dir / "checkpoints" / "train" / "last.ckpt", weights_only=True)
    val_acc = float(trainer.validate(module, datamodule=data, verbose=False)[0]["val/acc"]) if held_out else None
    info = {"fit_on": cfg.train.fit_on, "schedule": cfg.train.schedule, "epochs": epochs, "steps": steps,
            "steps_done": trainer.global_step, "epochs_done": trainer.current_epoch,
            "plateau_step": schedule.get("plateau_step"), "stopped_by_time_cap": capped, "val_acc": val_acc,
            "params_trained": sum(p.numel() for p in net.parameters())}
    return Trained(module, trainer, data, info)
