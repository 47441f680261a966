"""``data=aeon``: UCR/UEA archives shipped inside the aeon package (offline), or a user's ``.ts`` file.

Shipped datasets keep the archive's train/test split; val is carved out of train (share
split_factor[1] / (split_factor[0] + split_factor[1]), stratified, by seed), the same rule ``data=folder`` uses
when annotation lists give train and test only. Only datasets present in ``aeon/datasets/data`` are accepted, so
aeon never reaches for the network. A ``.ts`` file ``X_TRAIN.ts`` next to ``X_TEST.ts`` keeps that split; any
other ``.ts`` file is split by ``split_factor``. Series of unequal length are refused unless ``data.frame_size``
cuts them into windows (aeon's ``<name>_eq`` versions, where shipped, are equal-length).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserInputError
from .config import DataConfig
from .splits import DataSplits, carve, stratified_split
from .windows import SPLITS, Recording, to_splits


def _bundled_root() -> Path:
    import aeon.datasets

    return Path(aeon.datasets.__file__).parent / "data"


def shipped_classification() -> list[str]:
    """Names loadable offline: folders of aeon/datasets/data holding <name>_TRAIN.ts and <name>_TEST.ts."""
    root = _bundled_root()
    return sorted(d.name for d in root.iterdir()
                  if (d / f"{d.name}_TRAIN.ts").is_file() and (d / f"{d.name}_TEST.ts").is_file())


def _load_ts(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    from aeon.datasets import load_from_ts_file

    try:
        x, y = load_from_ts_file(str(path))
    except Exception as err:  # aeon raises IOError/ValueError/TypeError on malformed files
        raise UserInputError(f"{path}: not a readable .ts classification file ({err})") from None
    if y is None or len(y) == 0 or not isinstance(y[0], str):
        raise UserInputError(f"{path}: no class labels (a regression or unlabelled .ts file)")
    return [np.asarray(s, dtype=np.float64).T for s in x], np.asarray(y)  # each (rows, channels)


def _load_shipped(name: str) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    from aeon.datasets import load_classification

    base = name.removesuffix("_eq")
    shipped = shipped_classification()
    if base not in shipped:
        raise UserInputError(f"data.name={name}: not shipped with aeon; offline choices are {', '.join(shipped)} "
                             "(or give a .ts file with data.path)")
    out = {}
    for split in ("train", "test"):
        try:
            x, y = load_classification(name, split=split)
        except ValueError as err:
            raise UserInputError(f"data.name={name}: aeon cannot load it as classification data ({err})") from None
        out[split] = ([np.asarray(s, dtype=np.float64).T for s in x], np.asarray(y))
    return out


def _recordings(series: list[np.ndarray], y: np.ndarray, classes: list[str], tag: str) -> list[Recording]:
    index = {c: k for k, c in enumerate(classes)}
    recs = []
    for i, (values, label) in enumerate(zip(series, y)):
        if not np.isfinite(values).all():
            raise UserInputError(f"{tag} series #{i}: contains NaN or Inf (missing values are not supported)")
        recs.append(Recording(f"{tag} series #{i}", index[str(label)], values))
    return recs


def load_aeon(cfg: DataConfig, seed: int) -> DataSplits:
    if cfg.name:
        raw = _load_shipped(cfg.name)
        tag, info = cfg.name, {"source": "aeon", "name": cfg.name}
    else:
        path = Path(cfg.path).expanduser()
        if not path.is_file():
            raise UserInputError(f"data.path={cfg.path}: no such .ts file")
        test = path.with_name(path.name.replace("_TRAIN.ts", "_TEST.ts"))
        pair = path.name.endswith("_TRAIN.ts") and test.is_file()
        raw = {"train": _load_ts(path), **({"test": _load_ts(test)} if pair else {})}
        tag, info = path.name, {"source": "aeon", "path": str(path)}
    classes = sorted({str(v) for x, y in raw.values() for v in y})
    if len(classes) < 2:
        raise UserInputError(f"{tag}: found {len(classes)} class(es); need at least 2")
    f = cfg.split_factor
    train = _recordings(*raw["train"], classes, f"{tag} train")
    labels = np.asarray([r.label for r in train])
    if "test" in raw:
        keep, val = carve(labels, f[1] / (f[0] + f[1]), seed)
        parts = {"train": [train[i] for i in keep], "val": [train[i] for i in val],
                 "test": _recordings(*raw["test"], classes, f"{tag} test")}
        info["split"] = "archive train/test, val from train"
    else:
        chosen = stratified_split(labels, f, seed)
        parts = {s: [train[i] for i in idx] for s, idx in zip(SPLITS, chosen)}
        info["split"] = "split_factor"
    return to_splits(parts, classes, cfg, info)
