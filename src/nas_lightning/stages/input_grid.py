"""Input-grid stage (``data.input_grid=auto``, the default): the int8 grid the input is snapped to before the
retrain, chosen by cross-validation on train+val for the model about to be trained.

Why: the NPU's input is int8 with a power-of-two scale. A network trained on the plain standardised input
reads detail finer than that step, and post-training quantization of the input alone lost ACSF1 5 to 9
points. Trained on the grid it will see, the float network's input is the int8 input exactly. Which grid is
a trade: a coarser one clips less, a finer one keeps more detail. The candidates are the powers of two from
the scale post-training calibration would give the input (``quant.percentile`` of |x|) down to the one that
holds the LOWEST_PERCENTILE, at most MAX_GRIDS of them. On most data these are one grid and nothing is fitted;
where they differ (heavy-tailed input), the model is trained from scratch on each grid on the select stage's
folds, and the grid with the best CV accuracy is kept, ties going to the coarser (no grid is cheaper to deploy
than another, so unlike the select stage's smaller models there is nothing to trade accuracy for). Devices without an NPU quantize the input asymmetrically with any scale: no grid there.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from ..config import RunConfig
from ..data.datamodule import TimeSeriesDataModule
from ..data.splits import DataSplits, grid_name, pow2_input_scale, snap_to_scale
from ..devices import Device
from ..search_space.architecture import Architecture
from ..search_space.layout import NetShape
from .cross_validation import FoldPool, make_folds
from .select import Candidate

log = logging.getLogger(__name__)
LOWEST_PERCENTILE = 99.0  # the finest candidate grid clips at most 1 % of the training values
MAX_GRIDS = 3


def grid_ladder(x_train: np.ndarray, top_percentile: float) -> list[float]:
    """Candidate power-of-two input scales, coarsest first: from the one holding ``top_percentile`` of |x|
    down to the one holding LOWEST_PERCENTILE, halving, at most MAX_GRIDS."""
    top = pow2_input_scale(x_train, top_percentile)
    bottom = pow2_input_scale(x_train, min(top_percentile, LOWEST_PERCENTILE))
    return [top / 2**i for i in range(min(MAX_GRIDS, round(math.log2(top / bottom)) + 1))]


def _cross_validate(cfg: RunConfig, splits: DataSplits, arch: Architecture, shape: NetShape,
                    scales: list[float]) -> tuple[float, list[dict]] | None:
    """(The chosen scale, each candidate's row): ``arch`` trained from scratch on every fold of each grid;
    None when a class has fewer than 2 series in train+val (nothing to hold out)."""
    s = cfg.select
    grids = [snap_to_scale(splits, scale) for scale in scales]
    folds = [make_folds(grid, s.folds, s.repeats, cfg.seed) for grid in grids]  # the same pairs on each (seeded)
    if folds[0] is None:
        return None
    log.info("input grid: %d candidate grids (%s) x %d folds", len(scales), ", ".join(map(grid_name, scales)),
             len(folds[0].pairs))
    pool = [Candidate(grid_name(scale), "grid", arch, shape, params=i) for i, scale in enumerate(scales)]  # i: coarsest 0
    with FoldPool(max(1, torch.get_num_threads())) as fits:
        for scale, grid, grid_folds, c in zip(scales, grids, folds, pool):
            c.scores[0] = fits.cross_validate(cfg, arch, shape, grid, grid_folds, 1.0)
            log.info("  grid %-6s (clip ±%.2f): CV acc %.3f ± %.3f", c.name, 127 * scale, c.mean(0), c.sd(0))
    chosen = max(pool, key=lambda c: (c.mean(0), -c.params))
    rows = [{"scale": scale, "clip": 127 * scale, "cv_mean": round(c.mean(0), 4), "cv_sd": round(c.sd(0), 4),
             "cv_folds": [round(a, 4) for a in c.scores[0]]} for scale, c in zip(scales, pool)]
    return scales[pool.index(chosen)], rows


def input_grid_stage(cfg: RunConfig, dm: TimeSeriesDataModule, device: Device, arch: Architecture,
                     shape: NetShape) -> tuple[TimeSeriesDataModule, dict | None]:
    """(The data the retrain fits, on the chosen grid; report.json's "input_grid" block), or ``dm`` unchanged
    and None when the grid is not ``auto``."""
    if cfg.data.input_grid != "auto":
        return dm, None
    if not device.cfg.has_npu:
        return dm, {"skipped": f"{device.cfg.name} has no NPU: its int8 input takes any scale"}
    started = time.perf_counter()
    q = cfg.quant
    scales = grid_ladder(dm.splits.x_train, q.percentile if q.calibration == "percentile" else 100.0)
    scale, rows, how = scales[0], [{"scale": scales[0], "cv_mean": None}], "one candidate"
    if len(scales) > 1:
        scored = _cross_validate(cfg, dm.splits, arch, shape, scales)
        if scored is None:
            how = "the coarsest: a class has fewer than 2 series in train+val, nothing to cross-validate"
        else:
            (scale, rows), how = scored, "cross-validation"
    info = {"chosen_by": how, "scale": scale, "clip": 127 * scale, "candidates": rows,
            "seconds": round(time.perf_counter() - started, 2)}
    log.info("input grid: %s (clip ±%.2f), %s", grid_name(scale), 127 * scale, info["chosen_by"])
    snapped = snap_to_scale(dm.splits, scale, chosen_by=info["chosen_by"])
    return TimeSeriesDataModule(cfg.data, cfg.seed, dm.phase, snapped), info
