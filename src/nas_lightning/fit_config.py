"""How the tool fits networks: batch augmentation, the retrain recipe (also every select fold fit) and
the select stage's cross-validation. Each key's default lives here; README.md (Configuration) lists them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional

from .config_checks import at_least, share, unit_interval
from .errors import UserInputError

AUGMENT_STAGES = ("search", "train")
FIT_ON = ("train+val", "train")
TRAIN_SCHEDULES = ("plateau", "cosine")  # modules/lr_schedule.py
SELECT_RULES = ("paired_se", "tolerance", "one_se")
SELECT_ORIGINS = ("searched", "baseline", "standard")


@dataclass
class AugmentConfig:
    """Random per-series changes of each training batch in the ``stages`` listed (search: the
    weight batches; train: the retrain's batches): Gaussian ``jitter`` (std, in units of the
    normalised signal), amplitude ``scale`` (std of a factor around 1) and circular time ``shift``
    (largest share of the length). All 0 = off. ``shift: null`` decides from the data: on raw
    windows cut from longer recordings a window's start is arbitrary, so shifting keeps the label;
    a whole recorded series (an archive's, or a feature vector) is aligned to its event, so it does not."""

    name: str = "none"
    jitter: float = 0.0
    scale: float = 0.0
    shift: Optional[float] = 0.0
    stages: list[str] = field(default_factory=lambda: list(AUGMENT_STAGES))

    def __post_init__(self) -> None:
        for key in ("jitter", "scale"):
            at_least(f"augment.{key}", getattr(self, key), 0.0)
        if self.shift is not None and not 0 <= self.shift <= 0.5:
            raise UserInputError(f"augment.shift={self.shift}: must be in [0, 0.5] or null (decided by the data)")
        if any(s not in AUGMENT_STAGES for s in self.stages):
            raise UserInputError(f"augment.stages={list(self.stages)}: allowed values are subsets of {list(AUGMENT_STAGES)}")

    def for_stage(self, stage: str, windows: bool) -> "AugmentConfig":
        """This augmentation where ``stage`` is listed, none elsewhere; ``windows``: the samples are raw
        windows of longer recordings (what ``shift: null`` decides on)."""
        if stage not in self.stages:
            return AugmentConfig()
        shift = self.shift if self.shift is not None else (AUTO_SHIFT if windows else 0.0)
        return replace(self, shift=shift)


AUTO_SHIFT = 0.1  # shift: null on raw windows


@dataclass
class TrainConfig:
    """The retrain of the chosen network from scratch, the UCR way (Fawaz et al. 2019): AdamW, label
    smoothing, the last step's weights kept (no early pick on a dozen validation series). ``epochs``
    passes over the fit data (500: a small archive's few batches per epoch need that many), at most
    ``max_steps`` batches, at most ``max_minutes`` of wall clock (logged when it stops the run early),
    or ``steps`` batches when set, is the cap. ``schedule: plateau`` (warm-up, stable rate, decay from
    the step the training loss stops falling; modules/lr_schedule.py) ends a fit that has converged
    before the cap; ``cosine`` runs the whole cap. ``fit_on: train+val`` trains on both splits (val then
    only reports training fit); ``train`` keeps val held out."""

    epochs: Optional[int] = 500
    steps: Optional[int] = None
    max_steps: int = 20_000
    max_minutes: Optional[float] = 30.0
    optimizer: str = "adamw"
    lr: float = 3e-3  # the reference 1e-3 underfits small nets in 500 epochs of a 40-series archive (docs/design_log.md)
    momentum: float = 0.9  # sgd only
    weight_decay: float = 1e-2
    warmup: float = 0.05
    label_smoothing: float = 0.1
    fit_on: str = "train+val"
    schedule: str = "plateau"  # or cosine: the whole budget, fixed in advance (modules/lr_schedule.py)
    patience: int = 50  # plateau: epochs without a min_delta fall of the smoothed training loss
    min_delta: float = 0.01
    decay: float = 0.2  # plateau: share of the fit spent decaying the rate to 0
    checkpoint_minutes: Optional[float] = 1.0  # resumable state at an epoch's end at most this often; 0: every epoch

    def __post_init__(self) -> None:
        for key in ("epochs", "steps"):
            if getattr(self, key) is not None:
                at_least(f"train.{key}", getattr(self, key), 1)
        if self.epochs is None and self.steps is None:
            raise UserInputError("train.epochs: set train.epochs or train.steps (both are null)")
        at_least("train.max_steps", self.max_steps, 1)
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UserInputError(f"train.max_minutes={self.max_minutes}: must be > 0 or null (no cap)")
        if self.checkpoint_minutes is not None:
            at_least("train.checkpoint_minutes", self.checkpoint_minutes, 0.0)
        if self.optimizer not in ("sgd", "adamw"):
            raise UserInputError(f"train.optimizer={self.optimizer}: allowed values are sgd, adamw")
        if self.fit_on not in FIT_ON:
            raise UserInputError(f"train.fit_on={self.fit_on}: allowed values are {', '.join(FIT_ON)}")
        if self.lr <= 0:
            raise UserInputError(f"train.lr={self.lr}: must be > 0")
        if self.schedule not in TRAIN_SCHEDULES:
            raise UserInputError(f"train.schedule={self.schedule}: allowed values are {', '.join(TRAIN_SCHEDULES)}")
        at_least("train.patience", self.patience, 1)
        share("train.min_delta", self.min_delta)
        if not 0 < self.decay < 1:
            raise UserInputError(f"train.decay={self.decay}: must be in (0, 1) (the share of the fit spent decaying)")
        share("train.warmup", self.warmup)
        share("train.label_smoothing", self.label_smoothing)
        unit_interval("train.momentum", self.momentum)
        at_least("train.weight_decay", self.weight_decay, 0.0)

    def budget(self, steps_per_epoch: int) -> tuple[int, int]:
        """(epochs, batches) of a fit over data of ``steps_per_epoch`` batches."""
        if self.steps is not None:
            return math.ceil(self.steps / steps_per_epoch), self.steps
        steps = min(self.epochs * steps_per_epoch, self.max_steps)
        return math.ceil(steps / steps_per_epoch), steps


@dataclass
class SelectConfig:
    """The select stage (stages/select.py): candidates scored by stratified k-fold cross-validation on
    train+val, successive halving over training budgets; ``name: none`` skips it. The choice is the
    smallest candidate (deployed parameters) whose CV accuracy is within ``tolerance`` plus one standard
    error of its fold-by-fold gap to the best (``rule: paired_se``), within ``tolerance`` of the best
    (``tolerance``), or within the best's standard error (``one_se``, ESL's rule)."""

    name: str = "cv"
    folds: int = 5
    repeats: Optional[int] = None  # null: enough repeats for MIN_HELD_OUT held-out predictions (cross_validation.py)
    tolerance: float = 0.01
    rule: str = "paired_se"
    origins: list[str] = field(default_factory=lambda: list(SELECT_ORIGINS))
    alternatives: int = 1  # derived genotypes besides the searched argmax
    eta: int = 3  # successive halving: each rung keeps 1 / eta of its candidates, at eta x the budget
    rungs: int = 3
    max_minutes: Optional[float] = 5.0  # wall clock of the whole stage; rungs stop early when it is spent
    max_latency_us: Optional[float] = None  # leave out candidates estimated slower on the device (a latency target sets it)

    def __post_init__(self) -> None:
        if self.name not in ("cv", "none"):
            raise UserInputError(f"select={self.name}: allowed values are cv, none")
        at_least("select.folds", self.folds, 2)
        if self.repeats is not None:
            at_least("select.repeats", self.repeats, 1)
        if not 0 <= self.tolerance < 1:
            raise UserInputError(f"select.tolerance={self.tolerance}: must be in [0, 1) (a share of accuracy)")
        if self.rule not in SELECT_RULES:
            raise UserInputError(f"select.rule={self.rule}: allowed values are {', '.join(SELECT_RULES)}")
        if not self.origins or any(o not in SELECT_ORIGINS for o in self.origins):
            raise UserInputError(f"select.origins={list(self.origins)}: allowed values are non-empty subsets of "
                                 f"{list(SELECT_ORIGINS)}")
        at_least("select.alternatives", self.alternatives, 0)
        at_least("select.eta", self.eta, 2)
        at_least("select.rungs", self.rungs, 1)
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UserInputError(f"select.max_minutes={self.max_minutes}: must be > 0 or null (no cap)")
        if self.max_latency_us is not None and self.max_latency_us <= 0:
            raise UserInputError(f"select.max_latency_us={self.max_latency_us}: must be > 0 or null (no limit)")
