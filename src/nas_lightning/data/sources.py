"""Where recordings come from: each source turns a ``DataConfig`` into ``DataSplits``."""

from __future__ import annotations

from .config import DataConfig
from .splits import DataSplits, stratified_split
from .synthetic import make_synthetic


def load_synthetic(cfg: DataConfig, seed: int) -> DataSplits:
    x, y, names = make_synthetic(
        cfg.num_classes, cfg.samples_per_class, cfg.variables or 3, cfg.frame_size, cfg.noise, seed
    )
    tr, va, te = stratified_split(y, cfg.split_factor, seed)
    info = {"source": "synthetic", "features": "raw"}
    return DataSplits(x[tr], y[tr], x[va], y[va], x[te], y[te], names, info)


def load_splits(cfg: DataConfig, seed: int) -> DataSplits:
    loaders = {"synthetic": load_synthetic}
    return loaders[cfg.source](cfg, seed)
