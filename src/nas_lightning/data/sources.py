"""Where recordings come from: each source turns a ``DataConfig`` into ``DataSplits``."""

from __future__ import annotations

from .config import DataConfig
from .features import describe, extract
from .splits import DataSplits, stratified_split
from .synthetic import make_synthetic
from .windows import configured_length

SYNTHETIC_LENGTH = 256  # when neither data.frame_size nor an FFT preset sets it


def load_synthetic(cfg: DataConfig, seed: int) -> DataSplits:
    length = configured_length(cfg) or SYNTHETIC_LENGTH
    x, y, names = make_synthetic(cfg.num_classes, cfg.samples_per_class, cfg.variables or 3, length, cfg.noise, seed)
    x = extract(x, cfg)
    tr, va, te = stratified_split(y, cfg.split_factor, seed)
    info = {"source": "synthetic", "window": length, "features": describe(cfg)}
    return DataSplits(x[tr], y[tr], x[va], y[va], x[te], y[te], names, info)


def load_splits(cfg: DataConfig, seed: int) -> DataSplits:
    from .aeon_source import load_aeon  # aeon is imported only when used
    from .folder import load_folder

    loaders = {"synthetic": load_synthetic, "folder": load_folder, "aeon": load_aeon}
    return loaders[cfg.source](cfg, seed)
