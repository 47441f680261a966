"""Learning-rate schedules of every fit the tool makes (retrain, select's fold fits).

``cosine``: linear warm-up, then cosine to 0 over a budget fixed in advance. ``plateau``: warm-up, a
stable phase at the full rate, and a cosine decay that starts when the training loss stops falling
(warmup-stable-decay, Hägele et al. 2024, with the decay triggered by a plateau instead of a step
count). The budget then follows the data: easy data ends early, data that keeps improving trains on
to the cap, and the decay still reaches 0 by the cap (it starts at the latest at (1 - decay) of it).
"""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """LR factor: linear from ~0 to 1 over ``warmup`` steps, then cosine down to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


class PlateauSchedule:
    """The LR factor and end step of a warmup-stable-decay fit of at most ``cap`` steps.

    Fed the mean training loss of each epoch (``end_epoch``): smoothed by an exponential average, a
    plateau is ``patience`` epochs without a relative fall of ``min_delta`` below the best smoothed
    value. The decay then starts at that step and lasts ``decay / (1 - decay)`` of the steps so far,
    so it is ``decay`` of the whole fit."""

    SMOOTHING = 0.3  # weight of the newest epoch in the smoothed loss: a few-batch epoch's loss is noisy

    def __init__(self, cap: int, warmup: int, patience: int, min_delta: float, decay: float):
        self.cap, self.warmup, self.patience, self.min_delta, self.decay = cap, warmup, patience, min_delta, decay
        self.latest_start = max(warmup, int(cap * (1 - decay)))
        self.decay_start: int | None = None  # set at the plateau
        self.end = cap
        self.smoothed: float | None = None
        self.best = math.inf
        self.stale = 0  # epochs since the smoothed loss last fell by min_delta

    @property
    def start(self) -> int:
        return self.latest_start if self.decay_start is None else self.decay_start

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if step < self.start:
            return 1.0
        return warmup_cosine(step, self.end, self.start)  # past its "warm-up" (the stable phase): the cosine

    def end_epoch(self, loss: float, step: int) -> None:
        """The epoch ending at ``step`` had mean training loss ``loss``."""
        if self.decay_start is not None or step >= self.latest_start:
            return  # decaying already
        self.smoothed = loss if self.smoothed is None else (1 - self.SMOOTHING) * self.smoothed + self.SMOOTHING * loss
        if step < self.warmup:
            return
        if self.smoothed < self.best * (1 - self.min_delta):
            self.best, self.stale = self.smoothed, 0
            return
        self.stale += 1
        if self.stale >= self.patience:
            self.decay_start = step
            self.end = min(self.cap, step + max(1, math.ceil(step * self.decay / (1 - self.decay))))

    def done(self, step: int) -> bool:
        return step >= self.end

    def state(self) -> dict:
        """What the report says about the fit's length."""
        return {"plateau_step": self.decay_start, "end_step": self.end}

    CHECKPOINTED = ("decay_start", "end", "smoothed", "best", "stale")

    def state_dict(self) -> dict:
        """What a resumed fit needs to decide as the uninterrupted one would (its checkpoint keeps it)."""
        return {key: getattr(self, key) for key in self.CHECKPOINTED}

    def load_state_dict(self, state: dict) -> None:
        for key in self.CHECKPOINTED:
            setattr(self, key, state[key])
