"""Runs the stages (search → train → export) inside the Hydra run directory and writes report.json.

Each stage reads only what the previous one produced: search writes genotype.json, train reads a
genotype (from search or ``genotype=<path>``), export works on the network train just tested.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from .callbacks.alpha_monitor import AlphaMonitor
from .callbacks.confusion import ConfusionMatrixPlot
from .callbacks.export import OnnxExportCallback
from .callbacks.penalty import ResourcePenalty
from .callbacks.progress import ProgressLines
from .config import RunConfig, search_checkpoint
from .data.datamodule import TimeSeriesDataModule
from .errors import UserInputError
from .devices import check_input, check_preset_can_fit, device_spec, repair_flash, search_callbacks, verdict
from .modules.retrain import GenotypeRetrainModule
from .modules.search import DARTSSearchModule
from .search_space.baseline import baseline_genotype, baseline_spec
from .search_space.cost import ExpectedCost, fixed_net_cost
from .search_space.genotype import Genotype
from .search_space.layout import MacroSpec
from .search_space.memory import network_memory
from .search_space.network import FixedNet
from .search_space.supernet import SuperNet
from .summary import print_summary


log = logging.getLogger(__name__)
CHANCE_MARGIN = 0.05  # a test accuracy within this of 1 / classes is a failure to learn (exit 4)
MAX_VALIDATIONS = 10  # per stage: a 300-epoch search on a tiny archive need not validate (and plot) 300 times


def _trainer(cfg: RunConfig, out_dir: Path, name: str, epochs: int, steps: int, callbacks: list, **extra) -> L.Trainer:
    options = dict(cfg.trainer)
    options.setdefault("enable_progress_bar", sys.stdout.isatty())  # a bar on a terminal; in pipes, ProgressLines
    options.setdefault("enable_model_summary", False)
    options.setdefault("deterministic", True)  # same seed, same genotype; GPU configs relax it to "warn"
    options.setdefault("check_val_every_n_epoch", max(1, epochs // MAX_VALIDATIONS))
    return L.Trainer(
        max_epochs=epochs, default_root_dir=str(out_dir), callbacks=[*callbacks, ProgressLines(name, steps)],
        logger=TensorBoardLogger(str(out_dir), name="tb", version=name), num_sanity_val_steps=0, **options, **extra,
    )


def budget(epochs: int | None, steps: int, steps_per_epoch: int) -> tuple[int, int]:
    """(epochs, batches): ``epochs`` when set, else enough epochs for ``steps`` batches."""
    epochs = epochs or math.ceil(steps / steps_per_epoch)
    return epochs, epochs * steps_per_epoch


def check_resumable(path: Path, module: L.LightningModule) -> None:
    """Refuses, before a Trainer writes anything into the run, a checkpoint that is not readable as plain
    tensors (empty, truncated, or carrying code: ``weights_only``) or belongs to another network."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        weights = state["state_dict"]
    except Exception:  # noqa: BLE001 - torch raises many types for a bad file; all mean "cannot resume"
        raise UserInputError(f"resume: {path} cannot continue this search (not a plain-tensor Lightning checkpoint: "
                             "empty, truncated, or holding code)") from None
    try:
        module.load_state_dict(weights)  # only a check: fit restores it again
    except (RuntimeError, KeyError, TypeError):
        raise UserInputError(f"resume: {path} cannot continue this search (its tensors are another network's: "
                             "another preset, data shape or version)") from None


def search_stage(cfg: RunConfig, dm: TimeSeriesDataModule, spec: MacroSpec, out_dir: Path) -> tuple[Genotype, dict]:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = dm.with_phase("search")
    epochs, steps = budget(cfg.search.epochs, cfg.search.steps, data.steps_per_epoch())
    net = SuperNet(spec, dm.num_channels, dm.input_length, dm.num_classes, cfg.search.checkpoint,
                   cfg.search.partial_channels)
    augment = cfg.augment.for_stage("search", cfg.data.cuts_windows)
    module = DARTSSearchModule(net, cfg.search, dm.num_classes, steps, augment, cfg.seed)
    cost = ExpectedCost(spec, dm.num_channels, dm.input_length, dm.num_classes)
    callbacks = [
        ResourcePenalty(cost, cfg.mode.metric, cfg.mode.weight),
        AlphaMonitor(cost),
        # last.ckpt after every epoch, for resume= (Lightning 2.6 writes save_last only beside a top-k save)
        ModelCheckpoint(dirpath=search_checkpoint(out_dir).parent, filename=search_checkpoint(out_dir).stem,
                        enable_version_counter=False),
    ]
    callbacks += search_callbacks(cfg.device, cfg.mode.budget_weight, cfg.mode.budget_target, spec, dm.num_channels,
                                  dm.input_length, dm.num_classes)
    resume = search_checkpoint(cfg.resume) if cfg.resume else None
    if resume:
        check_resumable(resume, module)
    trainer = _trainer(cfg, out_dir, "search", epochs, steps, callbacks)
    trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    genotype = Genotype(**{**module.best_genotype.__dict__, "meta": {
        "best_epoch": module.best_epoch, "search_val_acc": module.best_val_acc, "seed": cfg.seed,
        "preset": OmegaConf.to_container(OmegaConf.structured(cfg.preset)), "mode": cfg.mode.name,
    }})
    if trainer.is_global_zero:
        genotype.save(out_dir / "genotype.json")
    entropy = {t: {"first": round(a, 5), "last": round(b, 5), "drop": round(1 - b / a, 4)}
               for t, (a, b) in module.entropy.items()}
    return genotype, {"epochs": epochs, "steps": steps, "alpha_steps": steps - module.warmup_steps,
                      "best_epoch": module.best_epoch, "val_acc": module.best_val_acc,
                      "val_loss": module.best_val_loss, "alpha_entropy": entropy,
                      "world_size": trainer.world_size, "rank_alpha_max_diff": module.rank_alpha_diff}


def train_stage(cfg: RunConfig, dm: TimeSeriesDataModule, spec: MacroSpec, genotype: Genotype, out_dir: Path):
    """Trains for the step budget and tests the last weights. With ``train.fit_on=train+val`` the
    validation split is part of the fit, so no validation accuracy is reported."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = dm.with_phase(cfg.train.fit_on)
    epochs, steps = budget(cfg.train.epochs, cfg.train.steps, data.steps_per_epoch())
    net = FixedNet(genotype, spec, dm.num_channels, dm.input_length, dm.num_classes)
    augment = cfg.augment.for_stage("train", cfg.data.cuts_windows)
    module = GenotypeRetrainModule(net, cfg.train, dm.num_classes, augment, cfg.seed)
    callbacks: list = [ConfusionMatrixPlot(out_dir, dm.splits.class_names)]
    export = None
    if "export" in cfg.stages:
        metadata = {"class_names": dm.splits.class_names, "preprocessing": dm.splits.info,
                    "genotype": genotype.to_json(), "device": cfg.device.name}
        e = cfg.export
        export = OnnxExportCallback(out_dir, dm, e.opset, e.calibration_batches, e.tolerance, metadata,
                                    npu=cfg.device.has_npu, quant=cfg.quant)
        callbacks.append(export)
    held_out = cfg.train.fit_on == "train"
    trainer = _trainer(cfg, out_dir, "train", epochs, steps, callbacks,
                       **({} if held_out else {"limit_val_batches": 0}))
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(out_dir / "checkpoints" / "train" / "last.ckpt", weights_only=True)
    val_acc = None
    if held_out:
        val_acc = float(trainer.validate(module, datamodule=data, verbose=False)[0]["val/acc"])
    test = trainer.test(module, datamodule=data, verbose=False)[0]
    results = {
        "fit_on": cfg.train.fit_on, "epochs": epochs, "steps": steps, "val_acc": val_acc,
        "test_acc": float(test["test/acc"]),
        "learned": float(test["test/acc"]) > 1 / dm.num_classes + CHANCE_MARGIN,
        "params_trained": sum(p.numel() for p in net.parameters()),
        **module.test_report,
    }
    return results, (export.results if export else {})


def _quiet_lightning() -> None:
    """Start-up banners ('GPU available: False', tips, shape inference) are noise in a CLI run."""
    for name in ("lightning.pytorch", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def default_threads() -> int:
    """The cores this process may use (not the machine's: on a shared or pinned machine more threads than
    cores make every step wait), shared among the jobs a parallel launcher runs at once (joblib's n_jobs;
    two 2-thread jobs on 2 cores ran a test sweep ten times slower than two 1-thread jobs)."""
    cores = len(os.sched_getaffinity(0))
    hydra = HydraConfig.get() if HydraConfig.initialized() else None
    jobs = int(hydra.launcher.get("n_jobs", 1) or 1) if hydra is not None and hydra.mode == RunMode.MULTIRUN else 1
    return max(1, cores // (cores if jobs < 0 else jobs))  # joblib: -1 = one job per core


def set_threads(threads: int | None) -> int:
    """Torch's thread pools sized to ``threads`` (default: ``default_threads()``)."""
    threads = threads or default_threads()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already fixed for this process (set once, before any parallel work)
        pass
    return threads


def run(cfg: RunConfig, raw: DictConfig) -> dict:
    """``cfg`` is the validated form of ``raw`` (which goes into report.json as composed)."""
    _quiet_lightning()
    threads = set_threads(cfg.threads)
    out_dir = Path(cfg.resume or HydraConfig.get().runtime.output_dir)
    log.info("nas-lightning run: preset=%s mode=%s device=%s data=%s, %d threads, into %s", cfg.preset.name,
             cfg.mode.name, cfg.device.name, cfg.data.name or cfg.data.path or cfg.data.source, threads, out_dir)
    genotype = Genotype.load(cfg.genotype) if cfg.genotype and "search" not in cfg.stages else None
    spec = MacroSpec.from_config(cfg.preset.__dict__)
    if cfg.model.name == "baseline":
        genotype, spec = baseline_genotype(), baseline_spec(cfg.model.width)
    spec, preset_changes = device_spec(cfg.device, spec)
    started = time.perf_counter()
    dm = TimeSeriesDataModule(cfg.data, cfg.seed)
    check_input(cfg.device, dm.num_channels)
    if "search" in cfg.stages:
        check_preset_can_fit(cfg.device, cfg.preset.name, spec, dm.num_channels, dm.input_length, dm.num_classes)
    report: dict = {
        "seed": cfg.seed, "threads": threads, "preset": cfg.preset.name, "mode": cfg.mode.name,
        "device": cfg.device.name,
        "data": {"classes": dm.splits.class_names, "channels": dm.num_channels, "length": dm.input_length,
                 "train": len(dm.splits.y_train), "val": len(dm.splits.y_val), "test": len(dm.splits.y_test),
                 **dm.splits.info},
        "seconds": {"data": round(time.perf_counter() - started, 2)},
    }
    if "search" in cfg.stages:
        t = time.perf_counter()
        genotype, report["search"] = search_stage(cfg, dm, spec, out_dir)
        genotype, repairs = repair_flash(genotype, cfg.device, spec, dm.num_channels, dm.input_length, dm.num_classes)
        if repairs:  # the searched cell was over the device's flash: the fitting one replaces it
            report["search"]["budget_repairs"] = repairs
            if rank_zero_only.rank == 0:
                genotype.save(out_dir / "genotype.json")
        report["seconds"]["search"] = round(time.perf_counter() - t, 2)
    report["genotype"] = json.loads(genotype.to_json())
    cost = fixed_net_cost(genotype, spec, dm.num_channels, dm.input_length, dm.num_classes)
    report["model"] = {"name": cfg.model.name, "params_trained": cost.params, "params_deployed": cost.deployed,
                       "macs": cost.macs}
    if "train" in cfg.stages:
        t = time.perf_counter()
        report["train"], exported = train_stage(cfg, dm, spec, genotype, out_dir)
        report["seconds"]["train_and_export"] = round(time.perf_counter() - t, 2)
        if exported:
            report["export"] = exported
    memory = network_memory(genotype, spec, dm.num_channels, dm.input_length, dm.num_classes)
    report["memory"] = memory.as_dict()
    report["device"] = verdict(cfg.device, memory, report.get("export", {}).get("npu_rules"), preset_changes)
    report["seconds"]["total"] = round(time.perf_counter() - started, 2)
    report["config"] = OmegaConf.to_container(raw, resolve=True)
    if rank_zero_only.rank == 0:  # under DDP every rank runs this function; one writes
        (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print_summary(report, out_dir)
    return report
