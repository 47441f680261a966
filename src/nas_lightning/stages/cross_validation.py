"""Stratified k-fold cross-validation on the train+val split, for the select stage.

Each fold trains an architecture from scratch with the retrain's own recipe (``train.*``, the same
module, augmentation and budget rule, scaled by a budget share) in a real Lightning Trainer, and scores
it on the held-out fold. Folds come from the train and validation splits only: the workers are never
given the test split, so they cannot read it.

Fold fits run in a pool of single-threaded worker processes, one per thread the run may use: a network
of a few thousand parameters steps as fast on one thread as on two, so two workers fit two folds in the
time of one. A fold's score does not depend on how many workers there are (each fit is seeded and
single-threaded).
"""

from __future__ import annotations

import math
import multiprocessing
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace

import lightning as L
import numpy as np
import torch
from sklearn.model_selection import RepeatedStratifiedKFold

from ..config import RunConfig
from ..data.datamodule import TimeSeriesDataModule
from ..data.splits import DataSplits
from ..modules.retrain import GenotypeRetrainModule
from ..search_space.architecture import Architecture, build_net
from ..search_space.layout import NetShape


@dataclass(frozen=True)
class Folds:
    """The pooled train+val series and the (train index, held-out index) pairs of every fold."""
    x: np.ndarray
    y: np.ndarray
    pairs: list[tuple[np.ndarray, np.ndarray]]
    folds: int  # per repeat (fewer than asked when a class has fewer series)
    repeats: int


MIN_HELD_OUT = 100  # held-out predictions per candidate: one error then weighs 1 point (the tolerance)
MAX_REPEATS = 5


def auto_repeats(series: int) -> int:
    """Repeats of the k-fold split so that every candidate is judged on at least MIN_HELD_OUT held-out
    predictions: on 40-100 series one 5-fold pass holds out 8-20 per fold and one error moves a fold by
    5-12 points, so a single pass ranks models by noise. The fits cost about the same at every data size
    (repeats x series is about constant)."""
    return min(MAX_REPEATS, math.ceil(MIN_HELD_OUT / series))


def make_folds(splits: DataSplits, folds: int, repeats: int | None, seed: int) -> Folds | None:
    """Stratified folds over train+val (``repeats`` None: ``auto_repeats``); None when a class has fewer
    than 2 series (nothing to hold out)."""
    x = np.concatenate([splits.x_train, splits.x_val])
    y = np.concatenate([splits.y_train, splits.y_val])
    smallest = int(np.bincount(y).min()) if len(y) else 0
    k = min(folds, smallest)
    if k < 2:
        return None
    repeats = repeats or auto_repeats(len(y))
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed % 2**32)
    return Folds(x, y, list(splitter.split(x, y)), k, repeats)


def _fold_data(cfg: RunConfig, base: DataSplits, folds: Folds, pair: tuple[np.ndarray, np.ndarray],
               seed: int) -> TimeSeriesDataModule:
    train, held = pair
    empty_x, empty_y = folds.x[:0], folds.y[:0]
    splits = replace(base, x_train=folds.x[train], y_train=folds.y[train], x_val=folds.x[held], y_val=folds.y[held],
                     x_test=empty_x, y_test=empty_y)
    return TimeSeriesDataModule(cfg.data, seed, "train", splits)


def fit_fold(cfg: RunConfig, arch: Architecture, shape: NetShape, data: TimeSeriesDataModule, share: float,
             seed: int) -> float:
    """Held-out accuracy of ``arch`` trained on the fold's training part for ``share`` of the budget."""
    L.seed_everything(seed, workers=True, verbose=False)
    steps_per_epoch = data.steps_per_epoch()
    _, full = cfg.train.budget(steps_per_epoch)
    steps = max(1, round(full * share))
    net = build_net(arch, shape)
    augment = cfg.augment.for_stage("train", cfg.data.cuts_windows)
    module = GenotypeRetrainModule(net, cfg.train, shape.classes, augment, seed, log_steps=False)
    accelerator = dict(cfg.trainer).get("accelerator", "cpu")
    trainer = L.Trainer(max_epochs=math.ceil(steps / steps_per_epoch), max_steps=steps, accelerator=accelerator,
                        devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, deterministic=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(does not have many workers|limit_val_batches).*")
        trainer.fit(module, datamodule=data)
    x, y = data.tensors["val"]
    net = net.cpu().eval()
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


def _worker_init() -> None:
    from ..threads import quiet_lightning

    torch.set_num_threads(1)
    quiet_lightning()


def _fit_job(job: tuple) -> float:
    cfg, arch, shape, data, share, seed = job
    return fit_fold(cfg, arch, shape, data, share, seed)


class FoldPool:
    """Single-threaded worker processes that fit folds (``with FoldPool(n) as pool: ...``)."""

    def __init__(self, workers: int):
        self.workers = workers

    def __enter__(self) -> "FoldPool":
        context = multiprocessing.get_context("spawn")  # no fork of a process whose torch threads already ran
        if multiprocessing.get_start_method(allow_none=True) not in (None, *multiprocessing.get_all_start_methods()):
            # a joblib (loky) sweep job: spawned children re-apply the parent's start method, "loky", and die on it
            multiprocessing.set_start_method("spawn", force=True)
        self.executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.executor.shutdown(cancel_futures=True)
            return
        # Interrupted (Ctrl-C, a scheduler's SIGTERM) or failed: a fold still fitting is of no use, and waiting
        # for it kept a stopped run alive for minutes. The executor has no public way to stop its workers (3.14 will).
        workers = list((self.executor._processes or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.kill()  # SIGKILL: a worker mid-fit runs Lightning's SIGTERM handler, which only sets a flag
        for process in workers:
            process.join()

    def cross_validate(self, cfg: RunConfig, arch: Architecture, shape: NetShape, base: DataSplits, folds: Folds,
                       share: float, known: dict[int, float] | None = None,
                       on_fold: Callable[[int, float], None] | None = None) -> list[float]:
        """One held-out accuracy per fold (and repeat), fitted in parallel. Folds in ``known`` (fold index ->
        accuracy, from before a resume) are not fitted again; ``on_fold`` hears each new one as it ends."""
        scores = dict(known or {})
        running = {self.executor.submit(_fit_job, (cfg, arch, shape, _fold_data(cfg, base, folds, pair, cfg.seed + i),
                                                   share, cfg.seed + i)): i
                   for i, pair in enumerate(folds.pairs) if i not in scores}
        for future in as_completed(running):
            scores[running[future]] = future.result()
            if on_fold is not None:
                on_fold(running[future], scores[running[future]])
        return [scores[i] for i in range(len(folds.pairs))]
