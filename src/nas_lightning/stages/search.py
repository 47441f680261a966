"""Search stage: the supernet of ``space=`` (DARTS cells or a chain) in a Trainer, under the resource
penalty and the device's rules; returns the kept genotype (a cell genotype stepped down to the device's
flash if it was over it, ``repair_flash``), written once as genotype.json, and what the search did.

The flash hinge, the up-front preset check and the repair are the cell space's (its memory model); a
chain's memory is judged by the fit verdict only (README, Search spaces: only xxl's widest chains can
outgrow the F28P55's flash)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import OmegaConf

from ..callbacks.alpha_monitor import AlphaMonitor
from ..config import RunConfig, search_checkpoint
from ..data.datamodule import TimeSeriesDataModule
from ..devices import Device
from ..loggers import log_outcome
from ..modules.alpha_terms import ResourcePenalty
from ..modules.search import DARTSSearchModule
from ..search_space.architecture import Architecture
from ..search_space.chain_cost import ExpectedChainCost
from ..search_space.chain_supernet import ChainSuperNet
from ..search_space.cost import ExpectedCost
from ..search_space.genotype import Genotype
from ..search_space.layout import NetShape
from ..search_space.supernet import SuperNet
from .trainer import budget, check_resumable, make_trainer


@dataclass
class Searched:
    genotype: Architecture
    info: dict  # report.json's "search" block
    alternatives: list[Architecture]  # other genotypes the supernet derived, for the select stage


def search_stage(cfg: RunConfig, dm: TimeSeriesDataModule, shape: NetShape, device: Device, out_dir: Path) -> Searched:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = dm.with_phase("search")
    epochs, steps = budget(cfg.search.epochs, cfg.search.steps, data.steps_per_epoch())
    net, cost, terms = _space(cfg, shape, device)
    augment = cfg.augment.for_stage("search", cfg.data.cuts_windows)
    terms = [ResourcePenalty(cost, cfg.mode.metric, cfg.mode.weight), *terms]
    module = DARTSSearchModule(net, cfg.search, shape.classes, steps, augment, cfg.seed, terms)
    callbacks = [
        AlphaMonitor(cost),
        # last.ckpt after every epoch, for resume= (Lightning 2.6 writes save_last only beside a top-k save)
        ModelCheckpoint(dirpath=search_checkpoint(out_dir).parent, filename=search_checkpoint(out_dir).stem,
                        enable_version_counter=False),
    ]
    resume = search_checkpoint(cfg.resume) if cfg.resume and search_checkpoint(cfg.resume).is_file() else None
    if resume:
        check_resumable(resume, module)
    trainer = make_trainer(cfg, out_dir, "search", epochs, steps, callbacks)
    trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    best = module.best_genotype
    genotype = type(best)(**{**best.__dict__, "meta": {
        "best_epoch": module.best_epoch, "search_val_acc": module.best_val_acc, "seed": cfg.seed,
        "preset": OmegaConf.to_container(OmegaConf.structured(cfg.preset)), "mode": cfg.mode.name,
        "space": OmegaConf.to_container(OmegaConf.structured(cfg.space)),
    }})
    repair = device.repair_flash if isinstance(genotype, Genotype) else lambda g, _: (g, [])
    genotype, repairs = repair(genotype, shape)
    alternatives = [repair(g, shape)[0] for g in module.alternatives(cfg.select.alternatives)]
    if trainer.is_global_zero:
        genotype.save(out_dir / "genotype.json")
        log_outcome(trainer.loggers, {"search/kept_val_acc": module.best_val_acc}, {"search_genotype": str(genotype)})
    entropy = {t: {"first": round(a, 5), "last": round(b, 5), "drop": round(1 - b / a, 4)}
               for t, (a, b) in module.entropy.items()}
    info = {"space": cfg.space.name, "mode_weight": cfg.mode.weight, "epochs": epochs, "steps": steps, "alpha_steps": steps - module.warmup_steps,
            "best_epoch": module.best_epoch, "val_acc": module.best_val_acc, "val_loss": module.best_val_loss,
            "alpha_entropy": entropy, "world_size": trainer.world_size, "rank_alpha_max_diff": module.rank_alpha_diff}
    if repairs:  # the searched cell was over the device's flash: the fitting one replaces it
        info["budget_repairs"] = repairs
    return Searched(genotype, info, alternatives)


def _space(cfg: RunConfig, shape: NetShape, device: Device) -> tuple[SuperNet | ChainSuperNet, object, list]:
    """(the supernet of ``space=``, its expected cost, the alpha terms beside the resource penalty)."""
    if cfg.space.name == "chain":
        space = device.chain_space(cfg.space, cfg.preset.name, shape)
        net, cost, terms = ChainSuperNet(space), ExpectedChainCost(space), []
    else:
        net = SuperNet(shape, cfg.search.checkpoint, cfg.search.partial_channels, device.banned_ops)
        cost, terms = ExpectedCost(shape), device.budget_terms(cfg.mode.budget_weight, cfg.mode.budget_target, shape)
    if device.cfg.latency.known:
        device.cfg.latency.add_to(cost)  # expected latency_us: mode=Latency's penalty, logged in every mode
    return net, cost, terms
