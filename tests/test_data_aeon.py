"""aeon source: shipped archives load offline with the archive split, and a TI folder written from one
loads into exactly the same arrays (the folder path reproduces the archive path bit for bit)."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest
from fixtures.ti_folder import folder_from_aeon

from nas_lightning.data.aeon_source import _bundled_root, shipped_classification
from nas_lightning.data.config import DataConfig
from nas_lightning.data.sources import load_splits
from nas_lightning.errors import UserInputError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name, channels, classes, length, n_train, n_test", [
    ("BasicMotions", 6, 4, 100, 40, 40),
    ("GunPoint", 1, 2, 150, 50, 150),
])
def test_shipped_dataset_offline_keeps_archive_split(no_network, name, channels, classes, length, n_train, n_test):
    s = load_splits(DataConfig(source="aeon", name=name), seed=0)
    assert s.x_train.shape[1:] == (channels, length) and s.x_train.dtype == np.float32
    assert len(s.class_names) == classes
    assert len(s.y_train) + len(s.y_val) == n_train and len(s.y_test) == n_test
    assert abs(len(s.y_val) - n_train / 3) <= classes  # val = 0.3 / 0.9 of train, per class
    assert set(s.y_val.tolist()) == set(range(classes))
    assert s.info["source"] == "aeon" and s.info["window"] == length


@pytest.mark.parametrize("name", ["GunPoint", "BasicMotions"])
def test_folder_written_from_aeon_loads_identical_arrays(tmp_path, name):
    folder = folder_from_aeon(tmp_path / name, name)
    a = load_splits(DataConfig(source="aeon", name=name), seed=3)
    f = load_splits(DataConfig(source="folder", path=str(folder)), seed=3)
    assert a.class_names == f.class_names
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, f"x_{split}"), getattr(f, f"x_{split}"))
        np.testing.assert_array_equal(getattr(a, f"y_{split}"), getattr(f, f"y_{split}"))


def test_ts_file_pair_keeps_split_and_single_file_uses_split_factor(tmp_path):
    for part in ("TRAIN", "TEST"):
        shutil.copy(_bundled_root() / "GunPoint" / f"GunPoint_{part}.ts", tmp_path / f"GunPoint_{part}.ts")
    by_name = load_splits(DataConfig(source="aeon", name="GunPoint"), seed=0)
    pair = load_splits(DataConfig(source="aeon", path=str(tmp_path / "GunPoint_TRAIN.ts")), seed=0)
    np.testing.assert_array_equal(by_name.x_test, pair.x_test)
    single = load_splits(DataConfig(source="aeon", path=str(tmp_path / "GunPoint_TEST.ts")), seed=0)
    assert [len(single.y_train), len(single.y_val), len(single.y_test)] == [90, 45, 15]


def test_unknown_name_is_refused_with_the_offline_choices():
    assert {"BasicMotions", "GunPoint", "ACSF1"} <= set(shipped_classification())
    with pytest.raises(UserInputError, match=r"data.name=NotADataset: not shipped with aeon; .*GunPoint"):
        load_splits(DataConfig(source="aeon", name="NotADataset"), seed=0)


def test_unequal_length_series_need_a_length_policy_or_frame_size():
    with pytest.raises(UserInputError, match="differ.*set data.length=pad, resample or crop.*data.frame_size"):
        load_splits(DataConfig(source="aeon", name="JapaneseVowels"), seed=0)
