"""``target.*``: what the user wants (an accuracy, a flash or MAC budget) and the study that finds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import UserInputError

TARGET_PRESETS = ("s", "m", "l", "xl", "xxl")
GOALS = ("accuracy", "flash_kb", "macs", "latency_us")  # any of them set makes the run a study


@dataclass
class TargetConfig:
    """Unset targets (all null) = a plain run. Any target set = a study: trials of ``preset`` in ``presets``
    and ``mode.weight`` in ``weight``, until the chosen model has not been bettered in ``trials`` trials."""

    accuracy: Optional[float] = None  # validation accuracy to reach (0, 1]
    flash_kb: Optional[float] = None  # deployed flash to stay under (the memory model's figure)
    macs: Optional[int] = None  # MACs per inference to stay under
    latency_us: Optional[float] = None  # estimated inference time on the device to stay under (latency.py)
    trials: int = 5  # patience: stop when this many trials after the chosen one did not better it
    max_trials: int = 30  # hard cap on finished trials
    presets: list[str] = field(default_factory=lambda: ["s", "m"])
    weight: list[float] = field(default_factory=lambda: [0.0, 3.0])  # mode.weight range sampled per trial
    workers: int = 1  # trials run at once in this process (threads, each trial its own process)
    storage: Optional[str] = None  # an Optuna RDB URL; null: sqlite in the study directory
    dir: Optional[str] = None  # the study directory (trials, storage, outcome); null: studies/<derived name>

    @property
    def active(self) -> bool:
        return any(getattr(self, goal) is not None for goal in GOALS)

    def __post_init__(self) -> None:
        if self.accuracy is not None and not 0 < self.accuracy <= 1:
            raise UserInputError(f"target.accuracy={self.accuracy}: must be in (0, 1] (a share of validation samples)")
        for key in ("flash_kb", "macs", "latency_us"):
            if getattr(self, key) is not None and getattr(self, key) <= 0:
                raise UserInputError(f"target.{key}={getattr(self, key)}: must be > 0 or null")
        for key, minimum in (("trials", 1), ("workers", 1), ("max_trials", self.trials)):
            if getattr(self, key) < minimum:
                raise UserInputError(f"target.{key}={getattr(self, key)}: must be >= {minimum}")
        if not self.presets or any(p not in TARGET_PRESETS for p in self.presets):
            raise UserInputError(f"target.presets={self.presets}: a non-empty list of {', '.join(TARGET_PRESETS)}")
        if len(self.weight) != 2 or not 0 <= self.weight[0] <= self.weight[1]:
            raise UserInputError(f"target.weight={self.weight}: two values [low, high] with 0 <= low <= high")

    def check_run(self, run) -> None:
        """What the rest of the run must allow: a device that can hold the flash target, a searched and
        retrained model (validation accuracy is what trials are judged on), nothing pinned to one run."""
        if not self.active:
            return
        limit = run.device.flash_kb
        if self.flash_kb is not None and limit is not None and self.flash_kb > limit:
            raise UserInputError(f"target.flash_kb={self.flash_kb}: over device={run.device.name}'s {limit:g} KB flash")
        if self.latency_us is not None and not run.device.latency.known:
            raise UserInputError(f"target.latency_us={self.latency_us:g}: device={run.device.name} has no latency "
                                 "model; pick an MCU device (e.g. device=F28004)")
        if run.model.name != "darts" or "search" not in run.stages or "train" not in run.stages:
            raise UserInputError("target: a study searches and retrains every trial; it needs model=darts and "
                                 "stages with search and train")
        for key in ("resume", "genotype"):
            if getattr(run, key):
                raise UserInputError(f"{key}: not with target.* (a study's trials are fresh runs; re-run the same "
                                     "command to continue a study)")
