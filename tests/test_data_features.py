"""FFT features: the vectorised extraction equals a direct numpy FFT of one window, and presets give TI's sizes."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.ti_folder import make_folder

from nas_lightning.data.config import CustomFeatures, DataConfig
from nas_lightning.data.features import PRESETS, feature_spec, fft_features
from nas_lightning.data.sources import load_splits
from nas_lightning.errors import UserInputError

FFT1024 = "FFT1024Input_256Feature_1Frame_Full_Bandwidth"


def test_fft1024_on_folder_gives_256_features_matching_direct_fft(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(4096)[:, None]
    per_class = {name: [np.sin(2 * np.pi * f * t) + 0.2 * rng.normal(size=(4096, 1)) for _ in range(4)]
                 for name, f in (("low", 0.01), ("high", 0.2))}
    folder = make_folder(tmp_path, per_class)
    s = load_splits(DataConfig(source="folder", path=str(folder), features=FFT1024, split_factor=[0.5, 0.25, 0.25]), 0)
    assert s.x_train.shape[1:] == (1, 256) and s.info["window"] == 1024
    assert s.info["features"]["name"] == FFT1024 and s.info["features"]["fft_size"] == 1024

    window = per_class["low"][0][:1024, 0]  # first window of the first file of class "low" (label 1)
    mag = np.abs(np.fft.rfft(window * np.hanning(1024)))[1:513] / 1024
    expected = 10 * np.log(np.maximum(mag.reshape(256, 2).mean(axis=1), 1e-12))
    got = fft_features(window.reshape(1, 1, 1024), PRESETS[FFT1024])[0, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    rows = np.concatenate([s.x_train, s.x_val, s.x_test])[:, 0]
    assert np.isclose(rows, got, atol=1e-4).all(axis=1).any()  # that window is in the loaded data


@pytest.mark.parametrize("name, length, features", [
    ("Generic_512Input_FFTBIN_32Feature_8Frame", 4096, 256),
    ("Generic_256Input_FFTBIN_16Feature_8Frame", 2048, 128),
])
def test_generic_presets_bin_each_frame_and_concatenate(name, length, features):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, length))
    spec = PRESETS[name]
    out = fft_features(x, spec)
    assert out.shape == (3, 2, features)
    frame = x[2, 1, spec.fft_size : 2 * spec.fft_size]  # second frame of the last window, channel 1
    half = spec.fft_size // 2
    mag = np.abs(np.fft.rfft(frame))[1 : half + 1].reshape(spec.bins, -1).mean(axis=1)
    np.testing.assert_allclose(out[2, 1, spec.bins : 2 * spec.bins], 20 * np.log10(mag), rtol=1e-5, atol=1e-4)


def test_custom_features_follow_their_fields():
    x = np.random.default_rng(2).normal(size=(2, 1, 3 * 64)) + 5.0
    cfg = DataConfig(features="custom", custom=CustomFeatures(64, 8, 3, log_db=False, dc_remove=False))
    plain = fft_features(x, feature_spec(cfg))
    assert plain.shape == (2, 1, 24)
    first = np.abs(np.fft.rfft(x[0, 0, :64]))[:32] / 64
    np.testing.assert_allclose(plain[0, 0, :8], first.reshape(8, 4).mean(axis=1), rtol=1e-5)
    assert plain[0, 0, 0] > 1.0  # the DC bin (mean 5) is kept when dc_remove=false


def test_bad_custom_and_conflicting_frame_size_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="data.custom: fft_size=64 .* bins=12 must divide"):
        DataConfig(features="custom", custom=CustomFeatures(64, 12, 1))
    with pytest.raises(UserInputError, match="data.features=nope: allowed values are raw, custom, FFT1024"):
        DataConfig(features="nope")
    with pytest.raises(UserInputError, match="data.frame_size=256: data.features=.* takes 2048 samples"):
        load_splits(DataConfig(frame_size=256, features="Generic_256Input_FFTBIN_16Feature_8Frame"), 0)
