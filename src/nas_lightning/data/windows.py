"""Recordings → windows (or whole recordings of one length, ``lengths.py``) → features → ``DataSplits``:
the step every file-based source ends with.

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
from .lengths import whole_recordings
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


def _check_not_empty(parts: dict[str, list[Recording]], split: str) -> None:
    if not parts[split]:
        raise UserInputError(f"data: the {split} split has no recording (add files or change data.split_factor)")


Arrays = dict[str, np.ndarray]


def _whole(parts: dict[str, list[Recording]], variables: int, cfg: DataConfig, info: dict) -> tuple[Arrays, Arrays, Arrays | None]:
    """One sample per recording, fitted to one length by data.length: (x, samples per recording, real lengths
    or None when nothing is padded); the length block goes into ``info``."""
    for split in SPLITS:
        _check_not_empty(parts, split)
    fitted, info["recording_length"] = whole_recordings({s: parts[s] for s in SPLITS}, variables, cfg.length,
                                                        cfg.max_length)
    length = info["recording_length"]["length"]
    real = {s: fitted[s][1] for s in SPLITS}
    padded = any((n < length).any() for n in real.values())
    return {s: fitted[s][0] for s in SPLITS}, {s: np.ones(len(parts[s]), dtype=np.int64) for s in SPLITS}, \
        real if padded else None


def _windowed(parts: dict[str, list[Recording]], variables: int, length: int, cfg: DataConfig,
              info: dict) -> tuple[Arrays, Arrays, None]:
    """Windows of ``length`` samples cut from each recording: (x, windows per recording, None)."""
    raw, counts = {}, {}
    for split in SPLITS:
        what = f" in its {split} part" if info.get("split") == "within_files" else ""
        chunks = [_windows(r, length, cfg.stride or length, variables, what) for r in parts[split]]
        _check_not_empty(parts, split)
        raw[split], counts[split] = np.concatenate(chunks), np.asarray([len(c) for c in chunks])
    return raw, counts, None


def to_splits(parts: dict[str, list[Recording]], class_names: list[str], cfg: DataConfig, info: dict) -> DataSplits:
    """Window (or fit whole recordings to one length: data.length), select variables and extract features
    for each split; warn when a split misses a class."""
    everything = [r for split in SPLITS for r in parts[split]]
    variables = _check_columns(everything, cfg.variables)
    length = configured_length(cfg)
    info = dict(info)
    if length is None:
        raw, counts, real = _whole(parts, variables, cfg, info)
        length = info["recording_length"]["length"]
    else:
        raw, counts, real = _windowed(parts, variables, length, cfg, info)
    arrays = {}
    for split in SPLITS:
        x = extract(raw[split], cfg)
        y = np.repeat(np.asarray([r.label for r in parts[split]], dtype=np.int64), counts[split])
        missing = [class_names[k] for k in range(len(class_names)) if not (y == k).any()]
        if missing:
            log.warning("data: the %s split has no sample of class %s (too few recordings of it for "
                        "data.split_factor; add recordings or annotation entries)", split, ", ".join(missing))
        arrays[split] = (x, y)
    info.update({"window": length, "stride": cfg.stride or length, "variables": variables, "features": describe(cfg),
                 "recordings": {s: len(parts[s]) for s in SPLITS}})
    return DataSplits(*arrays["train"], *arrays["val"], *arrays["test"], class_names, info, real)
