"""The input-grid stage (data.input_grid=auto): the candidate power-of-two grids, and the choice among them by
cross-validation on train+val when they differ."""

import math

import numpy as np

from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.data.splits import DataSplits, grid_name
from nas_lightning.devices import Device
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.standard import standard_model
from nas_lightning.stages.input_grid import LOWEST_PERCENTILE, MAX_GRIDS, grid_ladder, input_grid_stage
from nas_lightning.summary import input_grid_line

from conftest import TINY, compose_run_config


def _pow2_holding(x, percentile):
    return 2.0 ** math.ceil(math.log2(np.percentile(np.abs(x), percentile) / 127))


def test_ladder_is_one_grid_on_gaussian_data_and_halves_down_to_the_lowest_percentile_on_heavy_tails():
    rng = np.random.default_rng(0)
    gaussian = rng.normal(size=(200, 1, 100))
    assert grid_ladder(gaussian, 99.9) == [_pow2_holding(gaussian, 99.9)]
    tailed = gaussian * 0.05
    tailed.flat[rng.choice(tailed.size, tailed.size // 200, replace=False)] = 20.0  # 0.5 % peaks
    ladder = grid_ladder(tailed, 99.9)
    top, bottom = _pow2_holding(tailed, 99.9), _pow2_holding(tailed, LOWEST_PERCENTILE)
    assert ladder[0] == top and len(ladder) == MAX_GRIDS < math.log2(top / bottom) + 1
    assert all(a == 2 * b for a, b in zip(ladder, ladder[1:]))
    assert grid_ladder(tailed, 99.0) == [bottom]  # a calibration percentile below the lowest: one grid


def _detail_under_peaks(n_per_class: int, length: int, seed: int):
    """Classes told apart only by a +-0.1 level, under rare peaks of 20: a grid coarse enough to hold the
    peaks (step 0.25) rounds the level away; a finer one keeps it."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_per_class)
    x = (np.where(y == 0, -0.1, 0.1)[:, None, None] + rng.normal(0, 0.01, (len(y), 1, length))).astype(np.float32)
    rows = np.arange(0, len(y), 2)
    x[rows, 0, rng.integers(0, length, len(rows))] = 20.0  # one peak in every other series: 0.8 % of the values
    return x, y


def test_auto_grid_is_chosen_by_cross_validation_and_keeps_the_class_detail():
    cfg = compose_run_config([*TINY, "device=F28P55", "train.steps=60", "select.folds=2", "select.repeats=1"])
    (xa, ya), (xb, yb), (xt, yt) = (_detail_under_peaks(12, 64, s) for s in (0, 1, 2))
    splits = DataSplits(xa, ya, xb, yb, xt, yt, ["low", "high"])
    dm = TimeSeriesDataModule(cfg.data, cfg.seed, "train", splits)
    arch = standard_model("cls_500_npu")
    shape = NetShape(MacroSpec.from_config(cfg.preset), 1, 64, 2)
    snapped, info = input_grid_stage(cfg, dm, Device(cfg.device), arch, shape)

    rows = info["candidates"]
    assert info["chosen_by"] == "cross-validation" and len(rows) == MAX_GRIDS
    assert [r["scale"] for r in rows] == grid_ladder(np.concatenate([xa]), cfg.quant.percentile)
    assert rows[0]["cv_mean"] < rows[-1]["cv_mean"]  # the coarsest grid lost the level
    assert info["scale"] == max(rows, key=lambda r: (r["cv_mean"], r["scale"]))["scale"] < rows[0]["scale"]
    for name in ("train", "val", "test"):  # every split on the chosen grid, clipped to its range
        levels = snapped.tensors[name][0].numpy() / info["scale"]
        np.testing.assert_array_equal(levels, np.round(levels))
        assert np.abs(levels).max() <= 127
    assert snapped.splits.info["input_grid"] == {"chosen_by": "cross-validation", "scale": info["scale"],
                                                 "clip": 127 * info["scale"]}
    assert dm.splits.x_train is xa  # the stage's input is left as it was
    assert input_grid_line(info).startswith(f"input grid: {grid_name(info['scale'])} (clip ±") and "chosen by CV" in \
        input_grid_line(info)


def test_a_device_without_npu_or_a_fixed_grid_leaves_the_data_alone():
    x, y = _detail_under_peaks(12, 64, 0)
    splits = DataSplits(x, y, x, y, x, y, ["low", "high"])
    for overrides in (["device=host"], ["device=F28P55", "data.input_grid=99"], ["device=F28P55", "data.input_grid=null"]):
        cfg = compose_run_config([*TINY, *overrides])
        dm = TimeSeriesDataModule(cfg.data, cfg.seed, "train", splits)
        same, info = input_grid_stage(cfg, dm, Device(cfg.device), standard_model("cls_500_npu"), None)
        assert same is dm and (info is None) == (cfg.device.name == "F28P55")
