"""Schema of the ``data`` config group (all sources share it; each reads the keys it needs).

``frame_size: null`` means "automatic": the whole recording for raw features (``length`` says how
recordings of unequal length become one input length: data/lengths.py), or ``fft_size × frames`` for an
FFT preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UserInputError

SOURCES = ("synthetic", "folder", "aeon")
SPLIT_TYPES = ("amongst_files", "within_files")


@dataclass
class CustomFeatures:
    """Fields of ``data.features=custom`` (see data/features.py for the recipe)."""

    fft_size: int = 256  # samples per FFT frame
    bins: int = 16  # features per frame after binning the positive half-spectrum
    frames: int = 8  # consecutive frames concatenated into one network input
    log_db: bool = True  # 20*log10(magnitude) instead of the magnitude
    dc_remove: bool = True  # drop FFT bin 0 (the mean) before binning
    hann: bool = False  # Hann window on each frame before the FFT

    def check(self) -> None:
        for key in ("fft_size", "bins", "frames"):
            if getattr(self, key) < 1:
                raise UserInputError(f"data.custom.{key}={getattr(self, key)}: must be >= 1")
        half = self.fft_size // 2
        if self.fft_size < 8 or self.fft_size % 2 or self.bins > half or half % self.bins:
            raise UserInputError(
                f"data.custom: fft_size={self.fft_size} must be even and >= 8, and bins={self.bins} must divide "
                f"fft_size/2={half}"
            )


@dataclass
class DataConfig:
    source: str = "synthetic"
    path: Optional[str] = None  # folder / zip (source=folder) or .ts file (source=aeon)
    name: Optional[str] = None  # aeon dataset name shipped inside the aeon package, e.g. BasicMotions
    frame_size: Optional[int] = None  # samples per window; null = automatic (see module docstring)
    stride: Optional[int] = None  # window stride; null = window length (no overlap)
    variables: Optional[int] = None  # channels used (the first ones); null = all
    length: str = "error"  # whole recordings of unequal length: error, pad, resample, crop (data/lengths.py)
    max_length: Optional[int] = None  # the input length under pad/resample/crop; null = from the train recordings
    split_type: str = "amongst_files"
    split_factor: list[float] = field(default_factory=lambda: [0.6, 0.3, 0.1])
    features: str = "raw"  # raw, custom, or a TI preset name (data/features.py)
    custom: CustomFeatures = field(default_factory=CustomFeatures)
    batch_size: int = 64
    # the int8 grid inputs snap to (splits.py): auto (NPU devices: a power of two chosen by cross-validation,
    # stages/input_grid.py), a percentile of |x| whose power-of-two grid holds it, or null (off). Any: a string or a number
    input_grid: Any = "auto"
    # synthetic source only
    num_classes: int = 4
    samples_per_class: int = 300
    noise: float = 0.5

    @property
    def cuts_windows(self) -> bool:
        """Samples are raw windows of longer recordings (their start arbitrary), not whole series or features."""
        return self.frame_size is not None and self.features == "raw"

    def __post_init__(self) -> None:
        from .features import PRESETS  # features imports this module

        if self.source not in SOURCES:
            raise UserInputError(f"data.source={self.source}: allowed values are {', '.join(SOURCES)}")
        if self.batch_size < 1:
            raise UserInputError(f"data.batch_size={self.batch_size}: must be >= 1")
        if self.frame_size is not None and self.frame_size < 8:
            raise UserInputError(f"data.frame_size={self.frame_size}: must be >= 8 or null (whole recording)")
        if self.stride is not None and self.stride < 1:
            raise UserInputError(f"data.stride={self.stride}: must be >= 1 or null (= window length)")
        if self.variables is not None and self.variables < 1:
            raise UserInputError(f"data.variables={self.variables}: must be >= 1 or null (all columns)")
        if self.split_type not in SPLIT_TYPES:
            raise UserInputError(f"data.split_type={self.split_type}: allowed values are {', '.join(SPLIT_TYPES)}")
        if len(self.split_factor) != 3 or any(f < 0 for f in self.split_factor) or abs(sum(self.split_factor) - 1) > 1e-6:
            raise UserInputError(f"data.split_factor={list(self.split_factor)}: need three non-negative shares summing to 1")
        if self.split_factor[0] <= 0 or self.split_factor[1] <= 0:
            raise UserInputError(f"data.split_factor={list(self.split_factor)}: train and val shares must be > 0")
        self._check_length()
        allowed = ("raw", "custom", *PRESETS)
        if self.features not in allowed:
            raise UserInputError(f"data.features={self.features}: allowed values are {', '.join(allowed)}")
        if self.features == "custom":
            self.custom.check()
        self._check_input_grid()
        if self.noise < 0:
            raise UserInputError(f"data.noise={self.noise}: must be >= 0 (std of the synthetic signals' noise)")
        if self.source == "synthetic" and (self.num_classes < 2 or self.samples_per_class < 10):
            raise UserInputError("data.num_classes must be >= 2 and data.samples_per_class >= 10 for synthetic data")
        if self.source == "folder" and not self.path:
            raise UserInputError("data.path: required for data=folder (a folder or .zip holding classes/<label>/...)")
        if self.source == "aeon" and bool(self.name) == bool(self.path):
            raise UserInputError(
                "data.name / data.path: data=aeon needs exactly one: a dataset shipped with aeon (data.name=BasicMotions) "
                "or a .ts file (data.path=...)"
            )

    @property
    def grid_percentile(self) -> float | None:
        """The percentile of a fixed ``input_grid``; None when it is off or chosen by the run (auto)."""
        return None if self.input_grid in (None, "auto") else float(self.input_grid)

    def _check_input_grid(self) -> None:
        value = self.input_grid
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (value is None or value == "auto" or (number and 50 < value <= 100)):
            raise UserInputError(f"data.input_grid={value}: allowed values are auto, a percentile in (50, 100], "
                                 "or null (no grid)")

    def _check_length(self) -> None:
        from .lengths import MIN_LENGTH, POLICIES

        if self.length not in POLICIES:
            raise UserInputError(f"data.length={self.length}: allowed values are {', '.join(POLICIES)} (how whole "
                                 "recordings of unequal length become one input length)")
        if self.max_length is not None and self.max_length < MIN_LENGTH:
            raise UserInputError(f"data.max_length={self.max_length}: must be >= {MIN_LENGTH} or null (from the "
                                 "train recordings)")
        if self.max_length is not None and self.length == "error":
            raise UserInputError(f"data.max_length={self.max_length}: needs data.length=pad, resample or crop "
                                 "(data.length=error keeps the recordings' own length)")
        if self.length == "error":
            return
        key = f"data.length={self.length}"
        if self.source == "synthetic":
            raise UserInputError(f"{key}: synthetic series all have one length; it applies to data=aeon and "
                                 "data=folder")
        if self.frame_size is not None or self.features != "raw":
            raise UserInputError(f"{key}: applies to whole recordings (data.frame_size=null, data.features=raw); "
                                 "windows and FFT features already have one length")
