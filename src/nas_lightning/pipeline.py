"""A run, as its list of stages (``stages/``): search → select → input grid → train → export → evaluate,
inside the Hydra run directory, ending in report.json and the summary.

Each stage takes what the previous one returned: search a genotype (or ``genotype=<path>``, or a
hand-designed ``model=``), select among it, its alternatives and the reference models by
cross-validation, choose the int8 grid the input is snapped to (cross-validated, with ``data.input_grid=auto``),
train the chosen network, export it, evaluate everything on the test split once.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from .atomic_files import write_atomically
from .config import RunConfig
from .data.datamodule import TimeSeriesDataModule
from .devices import Device
from .loggers import log_outcome
from .search_space.architecture import Architecture, arch_cost, load_architecture
from .search_space.baseline import baseline_genotype, baseline_spec, saved_baseline_width
from .search_space.layout import MacroSpec, NetShape
from .search_space.standard import standard_model
from .stages.evaluate import memory_and_fit, test_onnx, test_torch
from .stages.export import check_float_layers, export_stage
from .stages.export_c import c_export_stage
from .stages.input_grid import input_grid_stage
from .stages.search import search_stage
from .stages.select import select_stage
from .stages.train import train_stage
from .summary import print_summary
from .threads import quiet_lightning, set_threads


log = logging.getLogger(__name__)


def run(cfg: RunConfig, raw: DictConfig, out_dir: Path) -> dict:
    """``cfg`` is the validated form of ``raw`` (which goes into report.json as composed); everything
    the run writes goes into ``out_dir``."""
    quiet_lightning()
    threads = set_threads(cfg.threads)
    log.info("nas-lightning run: preset=%s mode=%s device=%s data=%s, %d threads, into %s", cfg.preset.name,
             cfg.mode.name, cfg.device.name, cfg.data.name or cfg.data.path or cfg.data.source, threads, out_dir)
    started = time.perf_counter()
    device = Device(cfg.device)
    arch, dm, shape, preset_changes = _inputs(cfg, device)
    report: dict = {
        "seed": cfg.seed, "threads": threads, "preset": cfg.preset.name, "mode": cfg.mode.name,
        "device": cfg.device.name,
        "data": {"classes": dm.splits.class_names, "channels": shape.channels, "length": shape.length,
                 "train": len(dm.splits.y_train), "val": len(dm.splits.y_val), "test": len(dm.splits.y_test),
                 **dm.splits.info},
        "seconds": {"data": round(time.perf_counter() - started, 2)},
    }
    if "search" in cfg.stages:
        t = time.perf_counter()
        searched = search_stage(cfg, dm, shape, device, out_dir)
        arch, report["search"] = searched.genotype, searched.info
        report["seconds"]["search"] = round(time.perf_counter() - t, 2)
    name = getattr(arch, "meta", {}).get("model", cfg.model.name)  # a standard model's model.json keeps its name
    if cfg.select.name != "none" and {"search", "train"} <= set(cfg.stages):  # a given genotype= is trained as is
        t = time.perf_counter()
        selected = select_stage(cfg, dm, device, arch, shape, searched.alternatives, out_dir)
        arch, shape, name, report["select"] = selected.arch, selected.shape, selected.name, selected.info
        report["seconds"]["select"] = round(time.perf_counter() - t, 2)
    cost = arch_cost(arch, shape)
    report["genotype"] = json.loads(arch.to_json())
    report["model"] = {"name": name, "params_trained": cost.params, "params_deployed": cost.deployed,
                       "macs": cost.macs}
    if "train" in cfg.stages:
        t = time.perf_counter()
        if cfg.quant.float_layers and "export" in cfg.stages:
            check_float_layers(cfg, arch, shape)
        dm, grid = input_grid_stage(cfg, dm, device, arch, shape)
        if grid is not None:
            report["input_grid"], report["seconds"]["input_grid"] = grid, round(time.perf_counter() - t, 2)
            report["data"]["input_grid"] = dm.splits.info.get("input_grid")
        if _writes():  # the architecture trained and deployed: genotype=model.json trains it again
            arch.save(out_dir / "model.json")
        t = time.perf_counter()
        trained = train_stage(cfg, dm, shape, arch, out_dir)
        # rank 0 exports; under DDP the other ranks meanwhile wait in the test's first collective (bounded by
        # the process group's timeout, 30 minutes by default: far above a QAT fine-tune's few hundred steps)
        exported = export_stage(cfg, trained, arch, out_dir) if "export" in cfg.stages and _writes() else None
        report["train"] = test_torch(trained)  # the evaluate stage: the first and only look at the test split
        if exported:
            report["export"], report["quant"] = test_onnx(trained, exported), exported.quant
            if cfg.export.c:
                report["export"]["c"] = c_export_stage(cfg, trained, exported, out_dir)
        report["seconds"]["train_and_export"] = round(time.perf_counter() - t, 2)
        if _writes():
            log_outcome(trained.trainer.loggers, _final_figures(report), {"deployed_model": f"{name}: {arch}"})
    npu_rules = report.get("export", {}).get("npu_rules")
    report["memory"], report["device"] = memory_and_fit(device, arch, shape, npu_rules, preset_changes,
                                                        report.get("export", {}).get("c"))
    report["seconds"]["total"] = round(time.perf_counter() - started, 2)
    report["config"] = OmegaConf.to_container(raw, resolve=True)
    if _writes():
        write_atomically(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
        print_summary(report, out_dir)
    return report


def _final_figures(report: dict) -> dict[str, float]:
    """The report's headline numbers, as metrics for the experiment loggers."""
    figures = {"final/test_acc": report["train"]["test_acc"], "final/params_deployed": report["model"]["params_deployed"],
               "final/macs": report["model"]["macs"]}
    if "export" in report:
        figures["final/test_acc_int8"] = report["export"]["test_acc_onnx_int8"]
    return figures


def _writes() -> bool:
    """Under DDP every rank runs ``run``; rank 0 writes files."""
    return rank_zero_only.rank == 0


def _inputs(cfg: RunConfig, device: Device) -> tuple[Architecture | None, TimeSeriesDataModule, NetShape, dict]:
    """(the given or hand-designed architecture, if any; the data; the network shape; what the device
    changed in the preset), after the device's checks on them."""
    arch = load_architecture(cfg.genotype) if cfg.genotype and "search" not in cfg.stages else None
    spec = MacroSpec.from_config(cfg.preset)
    if cfg.model.name == "baseline":
        arch, spec = baseline_genotype(cfg.model.width), baseline_spec(cfg.model.width)
    elif arch is not None and saved_baseline_width(arch) is not None:  # a baseline's model.json
        spec = baseline_spec(saved_baseline_width(arch))
    elif not cfg.model.searched:
        arch = standard_model(cfg.model.name)
    spec, preset_changes = device.fit_spec(spec)
    dm = TimeSeriesDataModule(cfg.data, cfg.seed)
    shape = NetShape(spec, dm.num_channels, dm.input_length, dm.num_classes)
    device.check_input(shape.channels)
    if "search" in cfg.stages and cfg.space.name == "cells":  # the cells' memory model (a chain's: the verdict)
        device.check_preset_can_fit(cfg.preset.name, shape)
    return arch, dm, shape, preset_changes
