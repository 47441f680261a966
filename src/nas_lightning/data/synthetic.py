"""Deterministic synthetic machine-vibration recordings: the offline default dataset.

Every class shares a random fundamental, phase, gain and noise; they differ only in the shape of the
signal (harmonics, modulation, impulses, clipping), so neither amplitude, mean nor variance
separates them: a classifier has to look at the waveform.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ["normal", "imbalance", "bearing_fault", "misalignment", "looseness", "rub"]


def _signature(label: int, t: np.ndarray, f0: float, rng: np.random.Generator) -> np.ndarray:
    w = 2 * np.pi * f0 * t
    base = np.sin(w)
    if label == 0:
        return base + 0.3 * np.sin(2 * w)
    if label == 1:
        return base * (1 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.004, 0.01) * t))
    if label == 2:
        period = rng.integers(20, 40)
        start = rng.integers(0, period)
        burst = np.zeros_like(t)
        for s in range(int(start), len(t), int(period)):
            k = t[s:] - s
            burst[s:] += np.exp(-k / 3.0) * np.sin(2 * np.pi * 0.35 * k)
        return base + 0.8 * burst
    if label == 3:
        return base + 0.8 * np.sin(2 * w + rng.uniform(0, np.pi)) + 0.3 * np.sin(3 * w)
    if label == 4:
        return base + sum(0.25 / h * np.sin(h * w + rng.uniform(0, np.pi)) for h in range(2, 8))
    return np.clip(1.6 * base, -1.0, 1.0)


def make_synthetic(
    num_classes: int, samples_per_class: int, channels: int, length: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x float32 (N, C, L), y int64 (N,), class names), the same for the same arguments."""
    if num_classes > len(CLASS_NAMES):
        from ..errors import UserInputError

        raise UserInputError(f"data.num_classes={num_classes}: the synthetic source has at most {len(CLASS_NAMES)}")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    mixing = rng.normal(size=(channels, 2))  # each sensor sees a different mix of signal and its quadrature
    xs, ys = [], []
    for label in range(num_classes):
        for _ in range(samples_per_class):
            f0 = rng.uniform(0.02, 0.05)
            sig = _signature(label, t + rng.uniform(0, 100), f0, rng)
            quad = np.gradient(sig) / (2 * np.pi * f0)
            x = mixing[:, :1] * sig + mixing[:, 1:] * quad
            x = x / (x.std(axis=1, keepdims=True) + 1e-8) * rng.uniform(0.5, 2.0)
            x = x + noise * rng.normal(size=x.shape) + rng.normal(scale=0.5, size=(channels, 1))
            xs.append(x)
            ys.append(label)
    return np.stack(xs).astype(np.float32), np.asarray(ys, dtype=np.int64), CLASS_NAMES[:num_classes]
