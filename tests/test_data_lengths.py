"""``data.length``: whole recordings of unequal length (aeon's JapaneseVowels: 12 variables, 7-29 samples; a
folder of CSVs of their own lengths) become one input length by pad / resample / crop, the normalisation sees
real samples only (padding is exactly 0 afterwards: the training mean), and the choice is described for the
device; today's behaviour (one length or a refusal) is ``error``, the default."""

from __future__ import annotations

import json
import logging

import numpy as np
import onnx
import pytest
import torch
from aeon.datasets import load_classification
from conftest import TINY, compose_run_config, read_report, run_cli
from fixtures.ti_folder import folder_from_aeon, make_folder

from nas_lightning.data.config import DataConfig
from nas_lightning.data.lengths import fit_length
from nas_lightning.data.sources import load_splits
from nas_lightning.data.splits import normalise
from nas_lightning.errors import UserInputError

VOWELS = dict(source="aeon", name="JapaneseVowels")


def archive_lengths(split: str) -> np.ndarray:
    x, _ = load_classification("JapaneseVowels", split=split)
    return np.asarray([s.shape[-1] for s in x])


def test_fit_length_against_independent_computations():
    rng = np.random.default_rng(0)
    rec = rng.normal(size=(7, 3))  # (n, C)
    padded, real = fit_length(rec, 10, "pad")
    assert real == 7 and padded.shape == (3, 10)
    np.testing.assert_array_equal(padded[:, :7], rec.T)
    cut, real = fit_length(rec, 5, "crop")
    assert real == 5
    np.testing.assert_array_equal(cut, rec[:5].T)
    for length in (4, 7, 19):  # down, same, up: torch's linear interpolation with aligned corners
        resampled, real = fit_length(rec, length, "resample")
        expected = torch.nn.functional.interpolate(torch.from_numpy(rec.T[None]), size=length, mode="linear",
                                                   align_corners=True)[0].numpy()
        assert real == length
        np.testing.assert_allclose(resampled, expected, atol=1e-12)


def test_pad_normalises_real_samples_only_and_pads_with_the_training_mean(caplog):
    with caplog.at_level(logging.WARNING):
        raw = load_splits(DataConfig(**VOWELS, length="pad"), seed=0)
    longest = archive_lengths("train").max()
    assert raw.x_train.shape[1:] == (12, longest) and raw.x_test.shape[1:] == (12, longest)
    cut = int((archive_lengths("test") > longest).sum())
    assert cut >= 1 and raw.info["recording_length"]["cut"]["test"] == cut
    assert f"{cut} test recording(s) longer than the model's {longest} samples keep their first" in caplog.text
    # statistics of the real samples, computed independently of the mask code
    real = np.concatenate([x[:, :n] for x, n in zip(raw.x_train, raw.real_lengths["train"])], axis=1)
    mean, std = real.astype(np.float64).mean(axis=1), real.astype(np.float64).std(axis=1) + 1e-6
    raw_test, real_test = raw.x_test.copy(), raw.real_lengths["test"].copy()
    s = normalise(raw)
    np.testing.assert_allclose(s.info["normalisation"]["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(s.info["normalisation"]["std"], std, rtol=1e-6)
    short = int(np.argmin(real_test))
    n = real_test[short]
    assert n < longest and (s.x_test[short, :, n:] == 0).all()  # pad = 0 after normalisation
    np.testing.assert_allclose(s.x_test[short, :, :n], (raw_test[short, :, :n] - mean[:, None]) / std[:, None],
                               rtol=1e-4, atol=1e-5)
    assert s.info["recording_length"] | {"cut": None} == {
        "policy": "pad", "length": longest, "length_from": "longest train recording", "cut": None,
        "device": "keep the first min(n, L) samples, (x - mean) / std, then 0 for samples n..L-1",
        "pad_value": "0 after normalisation (each channel's training mean)",
        "recording_lengths": {"train": [7, 26], "val": [9, 23], "test": [7, 29]}}


def test_resample_and_crop_lengths(caplog):
    s = load_splits(DataConfig(**VOWELS, length="resample", max_length=32), seed=0)
    assert s.x_val.shape[2] == 32 and s.real_lengths is None  # nothing padded
    assert s.info["recording_length"]["length_from"] == "data.max_length"
    with caplog.at_level(logging.WARNING):
        c = load_splits(DataConfig(**VOWELS, length="crop", max_length=9), seed=0)
    assert c.x_train.shape[2] == 9
    short = int((archive_lengths("test") < 9).sum())
    assert short and c.info["recording_length"]["padded"]["test"] == short == int((c.real_lengths["test"] < 9).sum())
    assert "data.length=crop:" in caplog.text
    with pytest.raises(UserInputError, match=r"data.length=crop: the shortest train recording has 7 samples, fewer "
                                             r"than 8; set data.max_length >= 8"):
        load_splits(DataConfig(**VOWELS, length="crop"), seed=0)


def test_unequal_lengths_without_a_policy_are_refused_naming_data_length():
    with pytest.raises(UserInputError, match=r"^data.length=error: whole recordings must have one length, but they "
                                             r"differ \(.*7 rows.*29\); set data.length=pad, resample or crop") as err:
        load_splits(DataConfig(**VOWELS), seed=0)
    assert "\n" not in str(err.value)


def test_equal_lengths_are_unchanged_by_any_policy():
    plain = load_splits(DataConfig(source="aeon", name="ItalyPowerDemand"), seed=0)
    assert plain.real_lengths is None and plain.info["recording_length"]["policy"] == "error"
    for policy in ("pad", "resample", "crop"):
        other = load_splits(DataConfig(source="aeon", name="ItalyPowerDemand", length=policy), seed=0)
        np.testing.assert_array_equal(other.x_test, plain.x_test)


def test_folder_of_unequal_csvs_loads_as_the_archive_does(tmp_path):
    folder = folder_from_aeon(tmp_path / "vowels", "JapaneseVowels")
    a = normalise(load_splits(DataConfig(**VOWELS, length="pad"), seed=1))
    f = normalise(load_splits(DataConfig(source="folder", path=str(folder), length="pad"), seed=1))
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, f"x_{split}"), getattr(f, f"x_{split}"))
    assert f.info["recording_length"] == a.info["recording_length"]


@pytest.mark.parametrize("overrides, message", [
    (["data=aeon", "data.name=JapaneseVowels", "data.length=pad", "data.frame_size=16"],
     "data.length=pad: applies to whole recordings (data.frame_size=null, data.features=raw)"),
    (["data=aeon", "data.name=JapaneseVowels", "data.max_length=40"],
     "data.max_length=40: needs data.length=pad, resample or crop"),
    (["data.length=resample"], "data.length=resample: synthetic series all have one length"),
])
def test_length_keys_that_cannot_apply_are_refused(overrides, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compose_run_config(overrides)


@pytest.mark.slow  # a real CLI run (make test-full); loading and lengths are tested above
def test_folder_of_unequal_csvs_runs_end_to_end_under_pad(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(80)
    per_class = {name: [np.column_stack([np.sin(2 * np.pi * f * t[:n]), rng.normal(size=n) * 0.1])
                        for n in rng.integers(40, 81, size=12)] for name, f in (("slow", 0.02), ("fast", 0.08))}
    root = make_folder(tmp_path / "ds", per_class)
    run_dir = tmp_path / "run"
    result = run_cli([*TINY, "data=folder", f"data.path={root}", "data.length=pad", "model=cls_500_npu",
                      "stages=[train,export]"], run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_report(run_dir)
    block = report["data"]["recording_length"]
    longest = max(len(r) for recs in per_class.values() for r in recs)
    assert block["policy"] == "pad" and block["length"] == report["data"]["length"] <= longest
    meta = {p.key: p.value for p in onnx.load(str(run_dir / "model_int8.onnx")).metadata_props}
    assert json.loads(meta["preprocessing"])["recording_length"] == block
    assert report["export"]["test_acc_onnx_int8"] > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["pad", "resample"])
def test_japanese_vowels_default_run_scores(tmp_path, policy):
    """The issue's bar: TI's CLS_1k_NPU trained plainly on zero-padded input reaches 0.973. F28P55's NPU takes
    at most 8 variables in its first conv, so 8 of the 12."""
    run_dir = tmp_path / "run"
    result = run_cli(["data=aeon", "data.name=JapaneseVowels", "data.variables=8", f"data.length={policy}"], run_dir,
                     timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_report(run_dir)
    assert report["data"]["recording_length"]["policy"] == policy
    assert report["train"]["test_acc"] >= 0.95 and report["export"]["test_acc_onnx_int8"] >= 0.95
