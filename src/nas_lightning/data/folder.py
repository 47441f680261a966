"""``data=folder``: TI's dataset layout (``classes/<label>/*.{csv,txt,npy}``, optional ``annotations/``).

Splits, in order of precedence:
- ``annotations/instances_train_list.txt`` (+ ``_val_``, ``_test_``) when present: entries are paths relative to
  ``classes/`` (``normal/run1.csv``; a leading ``classes/`` is accepted). No val list: val is carved out of the
  train files (share split_factor[1] / (split_factor[0] + split_factor[1]), stratified, by seed) exactly as for
  aeon; no test list: the val files are also the test set (TI's behaviour; logged).
- ``split_type=amongst_files``: whole files go to train/val/test by ``split_factor``, stratified by class.
- ``split_type=within_files``: each file's rows are cut in three consecutive parts by ``split_factor``.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import UserInputError
from .config import DataConfig
from .readers import PICKLE_SUFFIXES, SUFFIXES, pickle_refusal, read_recording
from .splits import DataSplits, carve, stratified_split
from .tree import DatasetTree
from .windows import SPLITS, Recording, to_splits

log = logging.getLogger(__name__)
LISTS = {s: f"annotations/instances_{s}_list.txt" for s in SPLITS}


def _class_files(tree: DatasetTree) -> tuple[list[str], list[tuple[str, int]]]:
    """(class names, [(path relative to classes/, label)]) in sorted order, refusing bad layouts."""
    if not tree.has_dir("classes"):
        raise UserInputError(f"{tree.root}: no classes/ folder (expected classes/<label>/<recording>.csv|.txt|.npy)")
    entries = [p for p in tree.under("classes") if len(p.parts) >= 2]
    for p in entries:
        if p.suffix.lower() in PICKLE_SUFFIXES:
            raise pickle_refusal(tree.label(f"classes/{p}"))
    names = tree.subdirs("classes")
    if len(names) < 2:
        raise UserInputError(f"{tree.label('classes')}: found {len(names)} class folder(s) {names}; need at least 2")
    files: list[tuple[str, int]] = []
    for label, name in enumerate(names):
        mine = [p for p in entries if p.parts[0] == name and p.suffix.lower() in SUFFIXES]
        if not mine:
            raise UserInputError(f"{tree.label('classes/' + name)}: no {'/'.join(SUFFIXES)} files in this class folder")
        files.extend((p.as_posix(), label) for p in mine)
    return names, files


def _read_list(tree: DatasetTree, rel: str, known: dict[str, int]) -> list[str]:
    out = []
    try:
        text = tree.read(rel).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserInputError(f"{tree.label(rel)}: not UTF-8 text (one relative file path per line)") from None
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip().replace("\\", "/")
        if not entry:
            continue
        entry = entry.removeprefix("classes/")
        if entry not in known:
            raise UserInputError(f"{tree.label(rel)} line {number}: {entry} is not a data file under classes/")
        out.append(entry)
    return out


def _split_by_lists(tree: DatasetTree, known: dict[str, int], cfg: DataConfig, seed: int) -> dict[str, list[str]]:
    if not tree.has(LISTS["train"]):
        present = [LISTS[s] for s in SPLITS if tree.has(LISTS[s])]
        raise UserInputError(f"{tree.label(present[0])}: found without {LISTS['train']}")
    parts = {s: _read_list(tree, LISTS[s], known) if tree.has(LISTS[s]) else None for s in SPLITS}
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1 :]:
            shared = sorted(set(parts[first] or ()) & set(parts[second] or ()))
            if shared:
                raise UserInputError(f"{tree.label(LISTS[second])}: {shared[0]} is also in {LISTS[first]} "
                                     f"({len(shared)} shared); a file in two splits leaks its samples into the score")
    if parts["val"] is None:
        f = cfg.split_factor
        keep, val = carve(np.asarray([known[e] for e in parts["train"]]), f[1] / (f[0] + f[1]), seed)
        parts["train"], parts["val"] = [parts["train"][i] for i in keep], [parts["train"][i] for i in val]
    if parts["test"] is None:
        log.info("data: no %s, the validation files are also the test set", LISTS["test"])
        parts["test"] = parts["val"]
    return parts


def _read(tree: DatasetTree, rel: str, label: int, cache: dict[str, Recording]) -> Recording:
    if rel not in cache:
        path = f"classes/{rel}"
        values, _ = read_recording(tree.label(path), tree.read(path), "." + rel.rsplit(".", 1)[-1])
        cache[rel] = Recording(tree.label(path), label, values)
    return cache[rel]


def _within_files(recordings: list[Recording], shares: list[float]) -> dict[str, list[Recording]]:
    parts: dict[str, list[Recording]] = {s: [] for s in SPLITS}
    for r in recordings:
        n = len(r.values)
        cuts = [0, int(round(shares[0] * n)), int(round((shares[0] + shares[1]) * n)), n]
        for i, split in enumerate(SPLITS):
            if cuts[i + 1] > cuts[i]:
                parts[split].append(Recording(r.name, r.label, r.values[cuts[i] : cuts[i + 1]]))
    return parts


def load_folder(cfg: DataConfig, seed: int) -> DataSplits:
    tree = DatasetTree(cfg.path)
    names, files = _class_files(tree)
    known = dict(files)
    cache: dict[str, Recording] = {}
    info = {"source": "folder", "path": str(tree.root)}
    if any(tree.has(LISTS[s]) for s in SPLITS):
        chosen = _split_by_lists(tree, known, cfg, seed)
        parts = {s: [_read(tree, e, known[e], cache) for e in chosen[s]] for s in SPLITS}
        info["split"] = "annotations"
    elif cfg.split_type == "within_files":
        if cfg.frame_size is None and cfg.features == "raw":
            raise UserInputError("data.split_type=within_files: needs data.frame_size (windows of each file part)")
        parts = _within_files([_read(tree, f, lab, cache) for f, lab in files], cfg.split_factor)
        info["split"] = "within_files"
    else:
        labels = np.asarray([lab for _, lab in files])
        chosen = stratified_split(labels, cfg.split_factor, seed)
        parts = {s: [_read(tree, files[i][0], files[i][1], cache) for i in idx] for s, idx in zip(SPLITS, chosen)}
        info["split"] = "amongst_files"
    if cfg.split_factor[2] == 0 and info["split"] != "annotations":
        parts["test"] = parts["val"]
    return to_splits(parts, names, cfg, info)
