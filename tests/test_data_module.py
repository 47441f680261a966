"""The DataModule: train-only normalisation recorded in ``info``, disjoint weight/alpha halves in search, plain
batches otherwise, every batch a slice of in-memory tensors."""

from __future__ import annotations

import numpy as np
import torch
from fixtures.ti_folder import sine_folder

from nas_lightning.data.config import DataConfig
from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.data.splits import DataSplits, snap_to_int8_grid


def test_normalisation_uses_train_only_and_is_recorded(tmp_path):
    cfg = DataConfig(source="folder", path=str(sine_folder(tmp_path / "ds", files_per_class=10)), frame_size=100,
                     batch_size=16, input_grid=None)  # the standardisation alone
    dm = TimeSeriesDataModule(cfg, seed=0)
    x_train = dm.tensors["train"][0]
    assert x_train.dtype == torch.float32 and (dm.num_channels, dm.input_length, dm.num_classes) == (2, 100, 2)
    np.testing.assert_allclose(x_train.mean(dim=(0, 2)).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(dim=(0, 2), unbiased=False).numpy(), 1, atol=1e-3)
    norm = dm.splits.info["normalisation"]
    assert len(norm["mean"]) == len(norm["std"]) == 2 and dm.splits.info["source"] == "folder"
    assert abs(dm.tensors["val"][0].mean().item()) > 1e-6  # val is scaled with train's statistics, not its own


def test_search_phase_serves_disjoint_weight_and_alpha_halves(tmp_path):
    cfg = DataConfig(source="folder", path=str(sine_folder(tmp_path / "ds", files_per_class=10)), frame_size=100,
                     batch_size=8)
    dm = TimeSeriesDataModule(cfg, seed=0)
    batch, _, _ = next(iter(dm.with_phase("search").train_dataloader()))
    assert set(batch) == {"weights", "alphas"}
    seen = {"weights": set(), "alphas": set()}
    for batch, _, _ in dm.with_phase("search").train_dataloader():
        for half, (x, _) in batch.items():
            seen[half] |= {tuple(row.tolist()) for row in x[:, 0, :4]}
    assert seen["weights"] and seen["alphas"] and not seen["weights"] & seen["alphas"]
    x, y = next(iter(dm.with_phase("train").train_dataloader()))
    assert x.shape == (8, 2, 100) and y.dtype == torch.int64
    assert sum(len(b) for b in dm.calibration_batches(2)) == 16


def test_input_grid_snaps_every_split_to_trains_power_of_two_int8_grid(tmp_path):
    path = str(sine_folder(tmp_path / "ds", files_per_class=10))
    plain = TimeSeriesDataModule(DataConfig(source="folder", path=path, frame_size=100, input_grid=None), seed=0)
    dm = TimeSeriesDataModule(DataConfig(source="folder", path=path, frame_size=100, input_grid=95.0), seed=0)
    grid = dm.splits.info["input_grid"]
    x_plain = plain.splits.x_train
    amax = np.percentile(np.abs(x_plain), 95.0)
    assert grid["scale"] / 2 < amax / 127 <= grid["scale"] and np.log2(grid["scale"]) % 1 == 0
    for name in ("train", "val", "test"):
        x, before = dm.tensors[name][0].numpy(), getattr(plain.splits, f"x_{name}")
        levels = x / grid["scale"]
        np.testing.assert_array_equal(levels, np.round(levels))  # on the grid
        assert np.abs(levels).max() <= 127 and np.abs(x - np.clip(before, -grid["clip"], grid["clip"])).max() <= grid["scale"] / 2


def test_input_grid_clips_a_peak_the_percentile_leaves_out():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 10, 1, 50)).astype(np.float32)
    x[2, 0, 0, 0] = 1000.0  # a test-split peak far beyond the training split's range
    splits = snap_to_int8_grid(DataSplits(x[0], np.zeros(10), x[1], np.zeros(10), x[2], np.zeros(10), ["a"]), 99.0)
    grid = splits.info["input_grid"]
    assert grid["clip"] == 127 * grid["scale"] < 2 * np.percentile(np.abs(x[0]), 99.0)
    assert splits.x_test[0, 0, 0] == grid["clip"] and np.abs(splits.x_train).max() <= grid["clip"]
