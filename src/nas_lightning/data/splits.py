"""The in-memory dataset every source produces, stratified splitting and normalisation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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


def normalise(splits: DataSplits) -> DataSplits:
    """Per-channel standardisation with statistics of the training split only."""
    mean = splits.x_train.mean(axis=(0, 2), keepdims=True)
    std = splits.x_train.std(axis=(0, 2), keepdims=True) + 1e-6
    for name in ("x_train", "x_val", "x_test"):
        setattr(splits, name, ((getattr(splits, name) - mean) / std).astype(np.float32))
    splits.info["normalisation"] = {"mean": mean.ravel().tolist(), "std": std.ravel().tolist()}
    return splits
