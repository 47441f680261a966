"""The in-memory dataset every source produces, stratified splitting and normalisation."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import UserInputError


@dataclass
class DataSplits:
    x_train: np.ndarray  # float32 (N, C, L)
    y_train: np.ndarray  # int64 (N,)
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    info: dict = field(default_factory=dict)  # source, features, normalisation: goes to report and ONNX
    # per split, the real samples at the start of each series (the rest is padding: data.length); None: all real
    real_lengths: dict[str, np.ndarray] | None = None


def stratified_split(y: np.ndarray, shares: list[float], seed: int) -> list[np.ndarray]:
    """Index arrays for train/val/test holding each class in the given shares, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_train = int(round(shares[0] * len(idx)))
        n_val = int(round(shares[1] * len(idx)))
        for part, chunk in zip(parts, (idx[:n_train], idx[n_train : n_train + n_val], idx[n_train + n_val :])):
            part.extend(chunk.tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def carve(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, carved) with ``share`` of each class carved out, fixed by ``seed``."""
    carved, _, kept = stratified_split(y, [share, 0.0, 1.0 - share], seed)
    return kept, carved


def real_samples(splits: DataSplits, split: str) -> np.ndarray | None:
    """(N, 1, L) mask of a split's real samples (False on padding), or None when every sample is real."""
    if splits.real_lengths is None:
        return None
    x = getattr(splits, f"x_{split}")
    return (np.arange(x.shape[2]) < splits.real_lengths[split][:, None])[:, None, :]


def normalise(splits: DataSplits) -> DataSplits:
    """Per-channel standardisation with statistics of the training split's real samples only (padding
    would pull the mean toward the pad and shrink the std), computed in float64 (float32 sums of
    1e30-sized readings overflow) and checked finite in float32 afterwards. Padding becomes exactly 0,
    each channel's training mean (data.length=pad, lengths.py)."""
    x_train = splits.x_train.astype(np.float64)
    real = real_samples(splits, "train")
    where = True if real is None else np.broadcast_to(real, x_train.shape)
    mean = x_train.mean(axis=(0, 2), keepdims=True, where=where)
    std = x_train.std(axis=(0, 2), keepdims=True, where=where) + 1e-6
    for name in ("x_train", "x_val", "x_test"):
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = ((getattr(splits, name).astype(np.float64) - mean) / std).astype(np.float32)
        real = real_samples(splits, name.removeprefix("x_"))
        if real is not None:
            scaled = np.where(real, scaled, np.float32(0))
        if not np.isfinite(scaled).all():
            raise UserInputError(f"data: the {name.removeprefix('x_')} split holds values that are not finite after "
                                 "standardising with the training split's mean and std (NaN, Inf, or beyond float32)")
        setattr(splits, name, scaled)
    splits.info["normalisation"] = {"mean": mean.ravel().tolist(), "std": std.ravel().tolist()}
    return splits


def pow2_input_scale(x_train: np.ndarray, percentile: float) -> float:
    """The power-of-two int8 scale whose grid (127 levels each side) holds the ``percentile`` of |x|."""
    amax = float(np.percentile(np.abs(x_train), percentile))
    return float(2.0 ** np.ceil(np.log2(max(amax, 1e-30) / 127.0)))


def grid_name(scale: float) -> str:
    """A power-of-two scale as people write it: 2^-5."""
    return f"2^{round(np.log2(scale))}"


def snap_to_scale(splits: DataSplits, scale: float, **how: object) -> DataSplits:
    """Every split clipped and rounded to the symmetric int8 grid of step ``scale``: the grid the NPU's int8
    input lands on, so the float network trains and is tested on exactly the values its int8 graph will
    see (a data step, recorded in ``info`` with ``how`` it was chosen, and so in the ONNX metadata; the
    int8 export takes this scale for its input). Returns new splits; ``splits`` is left as it was."""
    snapped = {name: (np.clip(np.round(getattr(splits, name) / scale), -127, 127) * scale).astype(np.float32)
               for name in ("x_train", "x_val", "x_test")}
    info = {**splits.info, "input_grid": {**how, "scale": scale, "clip": 127 * scale}}
    return replace(splits, **snapped, info=info)


def snap_to_int8_grid(splits: DataSplits, percentile: float) -> DataSplits:
    """``snap_to_scale`` at the power-of-two scale holding the ``percentile`` of the training split's |x|."""
    return snap_to_scale(splits, pow2_input_scale(splits.x_train, percentile), percentile=percentile)
