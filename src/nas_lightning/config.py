"""Structured config: the schema of every key, its type and allowed values, and cross-field checks.

Hydra merges the YAML groups in ``conf/`` onto these dataclasses, so a wrong type fails at
composition; ``validate`` then builds the dataclasses, whose ``__post_init__`` checks raise one-line
``UserInputError``s naming the key and what is allowed, before any work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .data.config import DataConfig
from .config_checks import at_least, epochs_or_steps, share, unit_interval
from .errors import UserInputError, first_line
from .export_config import POW2_METHODS, QUANT_METHODS, ExportConfig, QuantConfig  # noqa: F401 (the schema's home)
from .fit_config import AugmentConfig, SelectConfig, TrainConfig
from .latency import LATENCY_METRIC, LatencyConfig
from .loggers import LoggerConfig
from .search_space.standard import STANDARD_MODELS
from .target.config import TargetConfig

STAGES = ("search", "train", "export")
MODES = ("Memory", "Compute", "Latency")


def search_checkpoint(run_dir: str | Path) -> Path:
    """The search checkpoint of a run directory, rewritten every epoch: what ``resume=`` continues."""
    return Path(run_dir) / "checkpoints" / "search" / "last.ckpt"


def train_checkpoint(run_dir: str | Path) -> Path:
    """The retrain's checkpoint (whole training state), rewritten every ``train.checkpoint_minutes``."""
    return Path(run_dir) / "checkpoints" / "train" / "last.ckpt"


def select_record(run_dir: str | Path) -> Path:
    """The select stage's finished fold fits, rewritten after each one."""
    return Path(run_dir) / "checkpoints" / "select" / "folds.json"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The furthest stage a run directory can continue from (``resume=``), if any."""
    kept = [p for p in (train_checkpoint(run_dir), select_record(run_dir), search_checkpoint(run_dir)) if p.is_file()]
    return kept[0] if kept else None


SEED_MAX = 2**32 - 1  # numpy's seeds stop here
# Trainer keys each stage sets itself (its step budget, callbacks, logger, run directory)
RESERVED_TRAINER_KEYS = ("max_epochs", "min_epochs", "max_steps", "min_steps", "max_time", "callbacks", "logger",
                         "default_root_dir", "num_sanity_val_steps", "enable_checkpointing")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def _non_finite_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys holding NaN or +-inf anywhere in a plain config tree."""
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in _non_finite_keys(v, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [k for i, v in enumerate(node) for k in _non_finite_keys(v, f"{prefix[:-1]}[{i}].")]
    return [prefix[:-1]] if isinstance(node, float) and not math.isfinite(node) else []


def _check_trainer(trainer: dict) -> None:
    """What ``lightning.Trainer`` would only refuse after the data is loaded, or never."""
    for key in RESERVED_TRAINER_KEYS:
        if key in trainer:
            raise UserInputError(f"trainer.{key}: set by nas-lightning itself (search.steps/epochs, train.steps/epochs); "
                                 "remove it")
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator not in ACCELERATORS:
        raise UserInputError(f"trainer.accelerator={accelerator}: allowed values are {', '.join(ACCELERATORS)}")
    if accelerator in ("gpu", "cuda", "mps"):
        import torch

        found = torch.backends.mps.is_available() if accelerator == "mps" else torch.cuda.is_available()
        if not found:
            raise UserInputError(f"trainer.accelerator={accelerator}: no such device on this machine; use cpu or auto")


@dataclass
class PresetConfig:
    name: str = "custom"
    layers: int = 5
    nodes_per_layer: int = 4
    init_channels: int = 4
    init_channel_multiplier: int = 3
    fanout_concat: int = 4

    def __post_init__(self) -> None:
        at_least("preset.layers", self.layers, 3)
        for key in ("nodes_per_layer", "init_channels", "init_channel_multiplier", "fanout_concat"):
            at_least(f"preset.{key}", getattr(self, key), 1)
        if self.fanout_concat > self.nodes_per_layer:
            raise UserInputError(
                f"preset.fanout_concat={self.fanout_concat}: must be <= preset.nodes_per_layer={self.nodes_per_layer}"
            )


SPACES = ("cells", "chain")


@dataclass
class SpaceConfig:
    """The search space (README, Search spaces). ``cells``: DARTS cells sized by the preset. ``chain``: one
    path of ``depth`` layers, each choosing op, width (up to ``widest``) and stride (search_space/
    chain_space.py); null takes the preset's row (chain_presets.py); ``input_bn``: BatchNorm on the input."""

    name: str = "cells"
    depth: Optional[int] = None
    widest: Optional[int] = None
    input_bn: bool = True

    def __post_init__(self) -> None:
        from .search_space.chain_presets import MAX_DEPTH, MIN_DEPTH, MIN_WIDEST, WIDTH_LADDER

        if self.name not in SPACES:
            raise UserInputError(f"space={self.name}: allowed values are {', '.join(SPACES)}")
        if self.name == "cells":
            for key, unset in (("depth", None), ("widest", None), ("input_bn", True)):
                if getattr(self, key) != unset:
                    raise UserInputError(f"space.{key}={getattr(self, key)}: only space=chain has it (the cells take "
                                         "their size from preset=); drop it or add space=chain")
            return
        if self.depth is not None and not MIN_DEPTH <= self.depth <= MAX_DEPTH:
            raise UserInputError(f"space.depth={self.depth}: must be in {MIN_DEPTH}..{MAX_DEPTH} or null (the preset's)")
        legal = [w for w in WIDTH_LADDER if w >= MIN_WIDEST]
        if self.widest is not None and self.widest not in legal:
            raise UserInputError(f"space.widest={self.widest}: allowed values are {', '.join(map(str, legal))} or null "
                                 "(the preset's)")


# mode.weight when null, per space: the price of cost in nats of validation loss per factor e. The cells' 1 was set on
# their range (smallest network ~4.7k params, ln(largest / smallest) ~2.2); the chain space reaches down to 4-channel
# chains of ~160 params (ln range ~5.3), and at 1 its search kept those on every archive tried. 0.1 was chosen
# among 1, 0.3, 0.1 and 0.03 on ArrowHead, ItalyPowerDemand and OSULeaf (docs/design_log.md, "A second search space").
SPACE_WEIGHTS = {"cells": 1.0, "chain": 0.1}


@dataclass
class ModeConfig:
    name: str = "Memory"
    weight: Optional[float] = None  # resource penalty: weight x ln(expected cost / smallest network); 0 to 3; null: SPACE_WEIGHTS
    budget_weight: float = 2.0  # hinge on expected flash/SRAM above budget_target x the device's (limited devices)
    budget_target: float = 0.9  # share of the device's flash and SRAM the search aims under

    def __post_init__(self) -> None:
        if self.name not in MODES:
            raise UserInputError(f"mode={self.name}: allowed values are {', '.join(MODES)}")
        if self.weight is not None:
            at_least("mode.weight", self.weight, 0.0)
        at_least("mode.budget_weight", self.budget_weight, 0.0)
        if not 0 < self.budget_target <= 1:
            raise UserInputError(f"mode.budget_target={self.budget_target}: must be in (0, 1]")

    @property
    def metric(self) -> str:
        """Memory optimises what the MCU stores (BN-folded parameters); Compute optimises MACs; Latency the
        device's estimated inference time (latency.py)."""
        return {"Memory": "deployed", "Compute": "macs", "Latency": LATENCY_METRIC}[self.name]


@dataclass
class DeviceConfig:
    name: str = "host"
    family: str = "host"
    core: str = "host CPU"
    clock_mhz: Optional[int] = None
    flash_kb: Optional[float] = None  # None = unlimited / not stated by TI
    sram_kb: Optional[float] = None
    has_npu: bool = False
    size_hint: str = ""
    note: str = ""  # where TI's figures disagree or are missing (said in the report)
    latency: LatencyConfig = field(default_factory=LatencyConfig)  # cycles per op class (latency.py)

    def __post_init__(self) -> None:
        if isinstance(self.latency, dict):
            self.latency = LatencyConfig(**self.latency)
        for key in ("flash_kb", "sram_kb"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise UserInputError(f"device.{key}={value}: must be > 0 or null (unlimited)")


@dataclass
class SearchConfig:
    """Budgeted in optimizer steps, not epochs: a 50-series archive gives 1-2 steps per epoch, a
    big recording set hundreds. ``epochs: null`` runs ``steps`` batches (scaled to the data);
    an integer runs exactly that many epochs. The first ``warmup`` share of the steps trains the
    weights only (alphas judged against untrained ops just learn which op trains fastest).
    ``alpha_lr: null`` spreads a fixed total travel over the architecture steps: DARTS' recipe
    (Adam 3e-4 for 50 x 390 steps) lets each alpha move ~6; 3e-4 over 300 steps moves nothing."""

    epochs: Optional[int] = None
    steps: int = 300
    warmup: float = 0.25
    unrolled: bool = False
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    alpha_lr: Optional[float] = None  # null: ALPHA_TRAVEL / architecture steps
    alpha_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    alpha_weight_decay: float = 1e-3
    grad_clip: float = 5.0
    max_skip: Optional[int] = None  # cap on skip_connect nodes per derived cell
    checkpoint: bool = False  # recompute each cell in backward: lower peak memory, slower steps
    partial_channels: int = 1  # K: about 1/K of each state's channels (at least one) go through the mixed ops (PC-DARTS); 1 = all
    beta_decay: float = 0.0  # β-DARTS weight at the last step, ramped from ~0; 0 = off (0.5 held alphas near uniform)

    def __post_init__(self) -> None:
        epochs_or_steps("search", self.epochs, self.steps)
        share("search.warmup", self.warmup)
        for key in ("w_lr", "alpha_lr", "grad_clip"):
            if getattr(self, key) is not None and getattr(self, key) <= 0:
                raise UserInputError(f"search.{key}={getattr(self, key)}: must be > 0")
        unit_interval("search.w_momentum", self.w_momentum)
        if len(self.alpha_betas) != 2:
            raise UserInputError(f"search.alpha_betas={list(self.alpha_betas)}: must be two numbers in [0, 1), e.g. [0.5, 0.999]")
        for beta in self.alpha_betas:
            unit_interval("search.alpha_betas", beta)
        for key in ("w_lr_min", "w_weight_decay", "alpha_weight_decay"):
            at_least(f"search.{key}", getattr(self, key), 0.0)
        if self.max_skip is not None:
            at_least("search.max_skip", self.max_skip, 0)
        at_least("search.beta_decay", self.beta_decay, 0.0)
        at_least("search.partial_channels", self.partial_channels, 1)


ALPHA_TRAVEL = 6.0  # ~ 50 epochs x 390 steps x 3e-4, the DARTS CIFAR-10 recipe


MODELS = ("darts", "baseline", *STANDARD_MODELS)


@dataclass
class ModelConfig:
    """``darts``: the searched genotype; ``baseline``: a hand-designed FCN (no search) to compare against,
    ``width`` channels wide (its own macro: the preset does not apply); ``cls_*_npu``: one of TI's
    standard classifiers (no search, no preset)."""

    name: str = "darts"
    width: int = 8

    def __post_init__(self) -> None:
        if self.name not in MODELS:
            raise UserInputError(f"model={self.name}: allowed values are {', '.join(MODELS)}")
        at_least("model.width", self.width, 1)

    @property
    def searched(self) -> bool:
        return self.name == "darts"


@dataclass
class RunConfig:
    preset: PresetConfig = field(default_factory=PresetConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    mode: ModeConfig = field(default_factory=ModeConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: Any = field(default_factory=dict)  # passed to lightning.Trainer as is
    search: SearchConfig = field(default_factory=SearchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    seed: int = 0
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    genotype: Optional[str] = None
    model: ModelConfig = field(default_factory=ModelConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    resume: Optional[str] = None  # a run directory to continue: its search, select and retrain from their checkpoints
    threads: Optional[int] = None  # torch intra- and inter-op threads; null: the cores this process may use
    target: TargetConfig = field(default_factory=TargetConfig)  # set a target: a study of runs (target/)
    logger: LoggerConfig = field(default_factory=LoggerConfig)  # the logger group (loggers.py)

    def __post_init__(self) -> None:
        if self.mode.weight is None:
            self.mode.weight = SPACE_WEIGHTS[self.space.name]
        if self.threads is not None:
            at_least("threads", self.threads, 1)
        if not 0 <= self.seed <= SEED_MAX:
            raise UserInputError(f"seed={self.seed}: must be in [0, {SEED_MAX}]")
        _check_trainer(self.trainer)
        if self.genotype and "search" in self.stages and self.model.searched:
            raise UserInputError(f"genotype={self.genotype}: a search writes its own genotype; drop genotype= or "
                                 "run stages=[train,export]")
        if self.space.name == "chain" and (self.search.checkpoint or self.search.partial_channels > 1):
            raise UserInputError("search.checkpoint / search.partial_channels: the cell supernet's switches; "
                                 "space=chain has neither (drop them or use space=cells)")
        if not self.stages or any(s not in STAGES for s in self.stages):
            raise UserInputError(f"stages={self.stages}: allowed values are non-empty subsets of {list(STAGES)}")
        if not self.model.searched:  # a hand-designed network: nothing to search
            self.stages = [s for s in self.stages if s != "search"]
            if "train" not in self.stages:
                raise UserInputError(f"model={self.model.name}: stages must include train (the model is not searched)")
        if self.resume is not None and latest_checkpoint(self.resume) is None:
            raise UserInputError(f"resume={self.resume}: nothing to continue there (no checkpoints/search/last.ckpt, "
                                 "checkpoints/select/folds.json or checkpoints/train/last.ckpt)")
        needs_genotype = "search" not in self.stages and "train" in self.stages and self.model.searched
        if needs_genotype and not self.genotype:
            raise UserInputError("genotype: a path to genotype.json is required when stages has train but not search")
        if "export" in self.stages and "train" not in self.stages:
            raise UserInputError("stages: export needs train in the same run (it exports the retrained network)")
        if self.genotype and "search" not in self.stages:
            from .search_space.architecture import load_architecture  # torch import: only when a file is given

            load_architecture(self.genotype)
        if self.quant.float_layers and self.device.has_npu:
            raise UserInputError(f"quant.float_layers: device={self.device.name} runs the whole int8 graph on its NPU "
                                 "(its catalogue entry declares no CPU fallback); allowed on devices without NPU")
        if self.mode.name == "Latency" and not self.device.latency.known:
            raise UserInputError(f"mode=Latency: device={self.device.name} has no latency model; pick an MCU device "
                                 "(e.g. device=F28004) or mode=Compute")
        self.target.check_run(self)


CONF_DIR = Path(__file__).parent / "conf"
def register() -> None:
    ConfigStore.instance().store(name="run_schema", node=RunConfig)


def validate(cfg: DictConfig) -> RunConfig:
    """Typed, checked copy of the composed config (raises ``UserInputError``): no NaN or infinity in any
    key (a NaN weight silently disables what it scales), then each section's own checks. A config that
    Hydra loaded without the schema (a run's saved ``.hydra/config.yaml`` as ``--config-name``) is typed
    by merging it onto the schema first."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    unknown = sorted(set(plain) - set(RunConfig.__dataclass_fields__))
    if unknown:
        raise UserInputError(f"{unknown[0]}: not a configuration key; top-level keys are "
                             f"{', '.join(RunConfig.__dataclass_fields__)}")
    bad = _non_finite_keys(plain)
    if bad:
        raise UserInputError(f"{bad[0]}={OmegaConf.select(cfg, bad[0].split('[')[0])}: must be a finite number")
    try:
        if OmegaConf.get_type(cfg) is not RunConfig:
            cfg = OmegaConf.merge(OmegaConf.structured(RunConfig), plain)
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        raise UserInputError(f"config: {first_line(err)}") from None
