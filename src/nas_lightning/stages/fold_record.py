"""The select stage's memory across a kill: each finished fold fit's held-out accuracy, written to
checkpoints/select/folds.json as soon as it is known, so ``resume=`` skips the folds already fitted.

A fold fit is a function of (config, seed, architecture, fold, budget share) only (stages/
cross_validation.py), so a recorded score is the score the uninterrupted run got; an entry is reused
only for the same architecture at the same budget share. The stage's elapsed seconds go with it, so
``select.max_minutes`` counts the time spent before the kill too."""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from ..atomic_files import write_atomically


class FoldRecord:
    def __init__(self, path: Path, resume: bool):
        self.path = path
        saved = json.loads(path.read_text()) if resume and path.is_file() else {}
        self.folds: dict[str, dict] = saved.get("folds", {})
        self.seconds: dict[str, float] = saved.get("seconds", {})  # "rung/candidate" -> its CV's wall seconds
        self.elapsed: float = saved.get("elapsed", 0.0)

    @staticmethod
    def _key(rung: int, name: str, fold: int | None = None) -> str:
        return f"{rung}/{name}" if fold is None else f"{rung}/{name}/{fold}"

    def known(self, rung: int, name: str, arch: str, share: float, folds: int) -> dict[int, float]:
        """The recorded held-out accuracies of this candidate's folds at this rung, by fold index."""
        found = {}
        for fold in range(folds):
            entry = self.folds.get(self._key(rung, name, fold))
            if entry and entry["arch"] == arch and entry["share"] == share:
                found[fold] = entry["acc"]
        return found

    def add_fold(self, rung: int, name: str, arch: str, share: float, fold: int, acc: float, elapsed: float) -> None:
        self.folds[self._key(rung, name, fold)] = {"arch": arch, "share": share, "acc": acc}
        self.elapsed = elapsed
        self._write()

    def add_seconds(self, rung: int, name: str, seconds: float) -> None:
        self.seconds[self._key(rung, name)] = seconds
        self._write()

    def seconds_of(self, rung: int, name: str) -> float | None:
        return self.seconds.get(self._key(rung, name))

    def _write(self) -> None:
        if rank_zero_only.rank == 0:  # under DDP every rank selects alike; one writes
            write_atomically(self.path, json.dumps({"elapsed": self.elapsed, "seconds": self.seconds,
                                                    "folds": self.folds}, indent=1) + "\n")
