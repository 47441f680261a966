"""Recordings → windows → features → ``DataSplits``: the step every file-based source ends with.

Each split's recordings are windowed on their own, so windows of one recording never straddle splits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import UserInputError
from .config import DataConfig
from .features import describe, extract, feature_spec
from .splits import DataSplits

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


@dataclass
class Recording:
    name: str  # shown in refusals: file path, or "<dataset> train #3"
    label: int
    values: np.ndarray  # float64 (rows, columns)


def configured_length(cfg: DataConfig) -> int | None:
    """Samples per window fixed by the config: data.frame_size or the FFT preset's input (which must
    agree when both are set); None when the recordings decide."""
    spec = feature_spec(cfg)
    if cfg.frame_size is not None:
        if spec is not None and cfg.frame_size != spec.input_length:
            raise UserInputError(
                f"data.frame_size={cfg.frame_size}: data.features={cfg.features} takes {spec.input_length} samples "
                f"per window; set data.frame_size={spec.input_length} or null"
            )
        return cfg.frame_size
    return None if spec is None else spec.input_length


def window_length(cfg: DataConfig, recordings: list[Recording]) -> int:
    """Samples per window: data.frame_size, the FFT preset's input, or the (common) recording length."""
    length = configured_length(cfg)
    if length is not None:
        return length
    lengths = {len(r.values) for r in recordings}
    if len(lengths) > 1:
        short = min(recordings, key=lambda r: len(r.values))
        long = max(recordings, key=lambda r: len(r.values))
        raise UserInputError(
            f"data.frame_size=null uses whole recordings, but they differ in length ({short.name}: {len(short.values)} "
            f"rows, {long.name}: {len(long.values)}); set data.frame_size to cut them into windows"
        )
    return lengths.pop()


def _windows(rec: Recording, length: int, stride: int, variables: int, what: str) -> np.ndarray:
    if len(rec.values) < length:
        raise UserInputError(f"{rec.name}: {len(rec.values)} rows{what}, shorter than the window of {length} samples "
                             "(data.frame_size / data.features)")
    view = sliding_window_view(rec.values[:, :variables], length, axis=0)  # (positions, C, length)
    return view[::stride]


def _check_columns(recordings: list[Recording], variables: int | None) -> int:
    first = recordings[0]
    width = first.values.shape[1]
    for r in recordings:
        if r.values.shape[1] != width:
            raise UserInputError(
                f"{r.name}: {r.values.shape[1]} measurement columns, but {first.name} has {width} (time columns dropped)"
            )
    if variables is not None and variables > width:
        raise UserInputError(f"data.variables={variables}: {first.name} has only {width} measurement columns")
    return variables or width


def to_splits(parts: dict[str, list[Recording]], class_names: list[str], cfg: DataConfig, info: dict) -> DataSplits:
    """Window, select variables and extract features for each split; warn when a split misses a class."""
    everything = [r for split in SPLITS for r in parts[split]]
    variables = _check_columns(everything, cfg.variables)
    length = window_length(cfg, everything)
    stride = cfg.stride or length
    arrays = {}
    for split in SPLITS:
        what = f" in its {split} part" if info.get("split") == "within_files" else ""
        chunks = [_windows(r, length, stride, variables, what) for r in parts[split]]
        if not chunks:
            raise UserInputError(f"data: the {split} split has no recording (add files or change data.split_factor)")
        x = extract(np.concatenate(chunks), cfg)
        y = np.concatenate([np.full(len(c), r.label, dtype=np.int64) for c, r in zip(chunks, parts[split])])
        missing = [class_names[k] for k in range(len(class_names)) if not (y == k).any()]
        if missing:
            log.warning("data: the %s split has no sample of class %s (too few recordings of it for "
                        "data.split_factor; add recordings or annotation entries)", split, ", ".join(missing))
        arrays[split] = (x, y)
    info = {**info, "window": length, "stride": stride, "variables": variables, "features": describe(cfg),
            "recordings": {s: len(parts[s]) for s in SPLITS}}
    return DataSplits(*arrays["train"], *arrays["val"], *arrays["test"], class_names, info)
