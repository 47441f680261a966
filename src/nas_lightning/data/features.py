"""Feature extraction applied once to all windows (vectorised numpy): ``raw`` or FFT presets.

Recipe for an FFT spec, per window and channel (a window is ``frames × fft_size`` consecutive samples):

1. cut the window into ``frames`` consecutive, non-overlapping frames of ``fft_size`` samples (TI ``frame_skip=1``);
2. optional Hann window on each frame (TI ``WINDOWING``);
3. real FFT, keep the positive half: bins 1 … fft_size/2 when ``dc_remove`` (TI ``min_bin=1``/``DC_REMOVE``:
   drop bin 0, keep Nyquist, e.g. 512 → 257 → 256 bins), else bins 0 … fft_size/2 − 1;
4. magnitude (TI ``ABS``), optionally divided by ``fft_size`` (TI ``NORMALIZE``);
5. binning to ``bins`` features: mean of each group of fft_size/2/bins adjacent bins (TI ``normalize_bin=True``);
6. log: ``log_mul · log_base(max(x, log_floor))`` (TI ``LOG_DB``: 20·log10 for the Generic presets, 10·ln for
   ``FFT1024Input_…_Full_Bandwidth``);
7. frames concatenated along time (TI ``CONCAT``): output (N, C, bins × frames), channels stay channels.

Our choices where TI is silent or odd: TI's Full_Bandwidth preset lists WINDOWING and BINNING before ABS (i.e. on
the complex half-spectrum); we apply the Hann window to the time samples before the FFT and take magnitudes before
binning. ``custom`` normalises by fft_size and uses 20·log10 with a 1e-12 floor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .config import DataConfig


@dataclass(frozen=True)
class FFTSpec:
    fft_size: int
    bins: int
    frames: int
    dc_remove: bool = True
    hann: bool = False
    normalize: bool = False
    log_mul: float = 20.0  # 0 = no log (magnitudes)
    log_base: float = 10.0
    log_floor: float = 1e-100

    @property
    def input_length(self) -> int:
        return self.fft_size * self.frames


PRESETS = {
    "FFT1024Input_256Feature_1Frame_Full_Bandwidth": FFTSpec(
        1024, 256, 1, hann=True, normalize=True, log_mul=10.0, log_base=float(np.e), log_floor=1e-12
    ),
    "Generic_1024Input_FFTBIN_64Feature_8Frame": FFTSpec(1024, 64, 8),
    "Generic_512Input_FFTBIN_32Feature_8Frame": FFTSpec(512, 32, 8),
    "Generic_256Input_FFTBIN_16Feature_8Frame": FFTSpec(256, 16, 8),
}


def feature_spec(cfg: DataConfig) -> FFTSpec | None:
    """The FFT spec selected by ``data.features`` (None for raw)."""
    if cfg.features == "raw":
        return None
    if cfg.features == "custom":
        c = cfg.custom
        return FFTSpec(c.fft_size, c.bins, c.frames, c.dc_remove, c.hann, True, 20.0 if c.log_db else 0.0, 10.0, 1e-12)
    return PRESETS[cfg.features]


def describe(cfg: DataConfig) -> dict:
    """The feature settings as plain JSON for report.json / ONNX metadata."""
    spec = feature_spec(cfg)
    return {"name": cfg.features} if spec is None else {"name": cfg.features, **asdict(spec)}


def fft_features(windows: np.ndarray, spec: FFTSpec) -> np.ndarray:
    """(N, C, frames·fft_size) samples → (N, C, frames·bins) float32 features (recipe in the module docstring)."""
    n, c, length = windows.shape
    assert length == spec.input_length, (length, spec.input_length)
    frames = windows.reshape(n, c, spec.frames, spec.fft_size).astype(np.float64)
    if spec.hann:
        frames = frames * np.hanning(spec.fft_size)
    half = spec.fft_size // 2
    spectrum = np.abs(np.fft.rfft(frames, axis=-1))
    spectrum = spectrum[..., 1 : half + 1] if spec.dc_remove else spectrum[..., :half]
    if spec.normalize:
        spectrum = spectrum / spec.fft_size
    binned = spectrum.reshape(n, c, spec.frames, spec.bins, half // spec.bins).mean(axis=-1)
    if spec.log_mul:
        binned = spec.log_mul * np.log(np.maximum(binned, spec.log_floor)) / np.log(spec.log_base)
    return binned.reshape(n, c, spec.frames * spec.bins).astype(np.float32)


def extract(windows: np.ndarray, cfg: DataConfig) -> np.ndarray:
    spec = feature_spec(cfg)
    return windows.astype(np.float32) if spec is None else fft_features(windows, spec)
