"""Train stage: the chosen architecture's network trained from scratch for the budget (``train.*``). The last
weights go on to export and the final evaluation; with ``train.fit_on=train`` the validation accuracy is
measured here. The test split is not touched. checkpoints/train/last.ckpt keeps the whole training state
(every ``train.checkpoint_minutes`` at an epoch's end, and at the end): ``resume=`` continues from it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L

from ..callbacks.confusion import ConfusionMatrixPlot
from ..callbacks.epoch_checkpoint import EpochCheckpoint
from ..config import RunConfig, train_checkpoint
from ..data.datamodule import TimeSeriesDataModule
from ..modules.retrain import GenotypeRetrainModule
from ..search_space.architecture import Architecture, build_net
from ..search_space.layout import NetShape
from .trainer import check_resumable, make_trainer, wall_clock_cap


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
    checkpoint = train_checkpoint(out_dir)
    resume = checkpoint if cfg.resume and checkpoint.is_file() else None
    resumed_at = None
    if resume:
        resumed_at = check_resumable(resume, module, "retrain")["global_step"]
        log.info("retrain: continuing from %s at step %d", resume, resumed_at)
    callbacks = [ConfusionMatrixPlot(out_dir, dm.splits.class_names)]
    if cfg.train.checkpoint_minutes is not None:
        callbacks.append(EpochCheckpoint(checkpoint, cfg.train.checkpoint_minutes))
    trainer = make_trainer(cfg, out_dir, "train", epochs, steps, callbacks, max_steps=steps,
                           max_time=wall_clock_cap(cfg.train.max_minutes),
                           **({} if held_out else {"limit_val_batches": 0}))
    trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    schedule = module.schedule.state() if module.schedule else {}
    end = schedule.get("end_step", steps)
    capped = trainer.global_step < end
    if capped:
        log.warning("retrain stopped by train.max_minutes=%g at step %d of %d (the learning rate had not decayed); "
                    "raise train.max_minutes or lower train.max_steps", cfg.train.max_minutes, trainer.global_step, end)
    trainer.save_checkpoint(checkpoint)  # the finished fit: a resume from it trains no further step
    val_acc = float(trainer.validate(module, datamodule=data, verbose=False)[0]["val/acc"]) if held_out else None
    info = {"fit_on": cfg.train.fit_on, "schedule": cfg.train.schedule, "epochs": epochs, "steps": steps,
            "steps_done": trainer.global_step, "epochs_done": trainer.current_epoch,
            "plateau_step": schedule.get("plateau_step"), "stopped_by_time_cap": capped, "val_acc": val_acc,
            "params_trained": sum(p.numel() for p in net.parameters())}
    if resumed_at is not None:
        info["resumed_at_step"] = resumed_at
    return Trained(module, trainer, data, info)
