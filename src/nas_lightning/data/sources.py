"""Where recordings come from: each source turns a ``DataConfig`` into ``DataSplits``."""

from __future__ import annotations

from ..errors import UserInputError
from .config import DataConfig
from .features import describe, extract, feature_spec
from .splits import DataSplits, stratified_split
from .synthetic import make_synthetic


def load_synthetic(cfg: DataConfig, seed: int) -> DataSplits:
    spec = feature_spec(cfg)
    length = cfg.frame_size or (spec.input_length if spec else 256)
    if spec is not None and length != spec.input_length:
        raise UserInputError(f"data.frame_size={cfg.frame_size}: data.features={cfg.features} takes "
                             f"{spec.input_length} samples per window; set data.frame_size=null")
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
