"""Whole CLI runs on real data (slow: `pytest -m slow`): aeon archives, a TI folder written from one, and FFT
features; each run's report and ONNX metadata carry the source, features and train normalisation."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import read_report, run_cli
from fixtures.ti_folder import folder_from_aeon, make_folder

SMALL = ["preset=s", "search.epochs=1", "train.epochs=1"]
pytestmark = pytest.mark.slow


def check_run(run_dir, result, channels, classes, length):
    # one training epoch checks the data path, not learning: exit 4 (flagged at chance) still ran every stage
    assert result.returncode in (0, 4), result.stderr[-3000:]
    data = read_report(run_dir)["data"]
    assert (data["channels"], len(data["classes"]), data["length"]) == (channels, classes, length)
    meta = {p.key: p.value for p in onnx.load(str(run_dir / "model.onnx")).metadata_props}
    preprocessing = json.loads(meta["preprocessing"])
    assert preprocessing["normalisation"] == data["normalisation"] and preprocessing["features"] == data["features"]
    return data


@pytest.mark.parametrize("name, channels, classes, length", [
    ("BasicMotions", 6, 4, 100), ("GunPoint", 1, 2, 150), ("ACSF1", 1, 10, 1460),
])
def test_aeon_dataset_end_to_end(tmp_path, name, channels, classes, length):
    result = run_cli([*SMALL, "data=aeon", f"data.name={name}"], tmp_path)
    assert check_run(tmp_path, result, channels, classes, length)["source"] == "aeon"


def test_folder_written_from_aeon_end_to_end(tmp_path):
    folder = folder_from_aeon(tmp_path / "ds", "BasicMotions")
    result = run_cli([*SMALL, "data=folder", f"data.path={folder}"], tmp_path / "run")
    data = check_run(tmp_path / "run", result, 6, 4, 100)
    assert data["split"] == "annotations" and data["test"] == 40


def test_fft_features_on_folder_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(4096)[:, None]
    folder = make_folder(tmp_path / "ds", {c: [np.sin(2 * np.pi * f * t) + rng.normal(size=(4096, 1)) for _ in range(10)]
                                           for c, f in (("low", 0.01), ("high", 0.1))})
    feats = "data.features=FFT1024Input_256Feature_1Frame_Full_Bandwidth"
    result = run_cli([*SMALL, "data=folder", f"data.path={folder}", feats], tmp_path / "run")
    assert check_run(tmp_path / "run", result, 1, 2, 256)["features"]["fft_size"] == 1024
