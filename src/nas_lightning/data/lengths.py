"""``data.length``: whole recordings of unequal length (a gesture, a keyword, an arc-fault burst) made into
one model input of L samples, the same way for every split, and described so the device does the same.

- ``error`` (default): every recording must already have one length (today's behaviour, named).
- ``pad``: L = ``data.max_length`` or the longest *training* recording. A shorter recording is filled at its
  end with 0 **after normalisation**, i.e. with each channel's training mean: the normalisation statistics are
  taken over real samples only (``splits.normalise``), so the padding neither shifts the mean nor shrinks the
  std, and a device normalises the samples it has, then zero-fills its input buffer. Zero-fill (TI's
  ``keep_short_tails``) rather than edge repetition: a repeated last sample invents a held signal the sensor
  never measured, and a zero buffer is what MCU code has anyway. A recording longer than L (a val/test one
  beyond the training maximum, or any beyond ``data.max_length``) keeps its first L samples, with a warning.
- ``resample``: every recording is linearly interpolated to L (``data.max_length`` or the longest training
  recording) at ``linspace(0, n - 1, L)``; nothing is padded or cut.
- ``crop``: L = ``data.max_length`` or the shortest training recording; every recording keeps its first L
  samples (a triggered event starts at its trigger); a val/test one shorter than L is padded as under ``pad``,
  with a warning.

Only whole recordings (``data.frame_size: null``, raw features) have a length policy: windows and FFT
features already have one length.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserInputError

if TYPE_CHECKING:
    from .windows import Recording

log = logging.getLogger(__name__)
POLICIES = ("error", "pad", "resample", "crop")
MIN_LENGTH = 8  # as data.frame_size: shorter inputs leave a CNN with reductions nothing to work on
DEVICE_STEPS = {  # report.json / ONNX metadata: what the device does to a recording of n samples
    "error": "recordings of exactly L samples, then (x - mean) / std",
    "pad": "keep the first min(n, L) samples, (x - mean) / std, then 0 for samples n..L-1",
    "crop": "keep the first min(n, L) samples, (x - mean) / std, then 0 for samples n..L-1",
    "resample": "linear interpolation of the n samples at linspace(0, n - 1, L), then (x - mean) / std",
}


def _input_length(policy: str, max_length: int | None, train: list[Recording]) -> tuple[int, str]:
    if max_length is not None:
        return max_length, "data.max_length"
    if policy == "crop":
        return min(len(r.values) for r in train), "shortest train recording"
    return max(len(r.values) for r in train), "longest train recording"


def fit_length(values: np.ndarray, length: int, policy: str) -> tuple[np.ndarray, int]:
    """One recording (n, C) as (C, length) float64, and how many of its samples are real (the rest is
    padding, set to 0 after normalisation)."""
    n = len(values)
    if policy == "resample" and n != length:
        at = np.linspace(0.0, n - 1.0, length)
        return np.stack([np.interp(at, np.arange(n), column) for column in values.T]), length
    kept = values[:length].T
    return np.pad(kept, ((0, 0), (0, length - kept.shape[1]))), kept.shape[1]


def _refuse_unequal(recordings: list[Recording]) -> None:
    short = min(recordings, key=lambda r: len(r.values))
    long = max(recordings, key=lambda r: len(r.values))
    if len(short.values) != len(long.values):
        raise UserInputError(
            f"data.length=error: whole recordings must have one length, but they differ ({short.name}: "
            f"{len(short.values)} rows, {long.name}: {len(long.values)}); set data.length=pad, resample or crop "
            "(or data.frame_size to cut them into windows)")


def whole_recordings(parts: dict[str, list[Recording]], variables: int, policy: str,
                     max_length: int | None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Per split of ``parts`` (none empty): (x (N, C, L) float64, real samples per recording (N,)), and report.json's
    ``recording_length`` block."""
    if policy == "error":
        _refuse_unequal([r for split in parts.values() for r in split])
    length, source = _input_length(policy, max_length, parts["train"])
    if policy != "error" and length < MIN_LENGTH:
        raise UserInputError(f"data.length={policy}: the {source} has {length} samples, fewer than {MIN_LENGTH}; "
                             f"set data.max_length >= {MIN_LENGTH}")
    arrays, ranges, changed = {}, {}, {}
    for split in parts:
        fitted = [fit_length(r.values[:, :variables], length, policy) for r in parts[split]]
        arrays[split] = (np.stack([x for x, _ in fitted]), np.asarray([n for _, n in fitted], dtype=np.int64))
        lengths = [len(r.values) for r in parts[split]]
        ranges[split] = [min(lengths), max(lengths)]
        changed[split] = _warn_changed(policy, split, lengths, length)
    info = {"policy": policy, "length": length, "length_from": source, "device": DEVICE_STEPS[policy],
            "recording_lengths": ranges}
    if policy in ("pad", "crop"):
        info["pad_value"] = "0 after normalisation (each channel's training mean)"
        info["cut" if policy == "pad" else "padded"] = changed
    return arrays, info


def _warn_changed(policy: str, split: str, lengths: list[int], length: int) -> int:
    """Recordings treated against the policy's name (cut under pad, padded under crop): counted and warned."""
    if policy == "pad":
        count = sum(n > length for n in lengths)
        if count:
            log.warning("data.length=pad: %d %s recording(s) longer than the model's %d samples keep their first %d "
                        "(up to %d rows; raise data.max_length to keep more)", count, split, length, length, max(lengths))
        return count
    if policy == "crop":
        count = sum(n < length for n in lengths)
        if count:
            log.warning("data.length=crop: %d %s recording(s) shorter than the model's %d samples are padded with 0 "
                        "after normalisation (down to %d rows)", count, split, length, min(lengths))
        return count
    return 0
