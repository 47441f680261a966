"""Folder source: TI layout, every split mode, windowing and file formats. Recordings encode their file id
and row (value = 1000·id + row) so each test can tell exactly where every window came from."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from fixtures.ti_folder import make_folder, write_csv

from nas_lightning.data.config import DataConfig
from nas_lightning.data.sources import load_splits

ROWS = 600


def tagged(file_id: int, rows: int = ROWS) -> np.ndarray:
    v = 1000.0 * file_id + np.arange(rows)
    return np.column_stack([v, -v])


@pytest.fixture
def folder(tmp_path):
    """Two classes × 10 files: file ids 0..9 in class a, 10..19 in class b."""
    return make_folder(tmp_path / "ds", {"a": [tagged(i) for i in range(10)], "b": [tagged(10 + i) for i in range(10)]})


def load(path, **kw):
    return load_splits(DataConfig(source="folder", path=str(path), **kw), seed=kw.pop("seed", 0))


def file_ids(x: np.ndarray) -> set[int]:
    ids = x[:, 0] // 1000
    assert (ids == ids[:, :1]).all(), "a window mixes two files"
    return set(ids[:, 0].astype(int).tolist())


def test_amongst_files_is_stratified_deterministic_and_never_straddles(folder):
    s = load(folder, frame_size=100, stride=50)
    per_file = (ROWS - 100) // 50 + 1
    assert [len(s.y_train), len(s.y_val), len(s.y_test)] == [12 * per_file, 6 * per_file, 2 * per_file]
    ids = [file_ids(x) for x in (s.x_train, s.x_val, s.x_test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert all(len({i // 10 for i in part}) == 2 for part in ids)  # both classes in each split
    assert np.array_equal(s.x_train, load(folder, frame_size=100, stride=50).x_train)
    assert ids[0] != file_ids(load_splits(DataConfig(source="folder", path=str(folder), frame_size=100), 1).x_train)
    assert s.info["split"] == "amongst_files" and s.info["window"] == 100 and s.info["stride"] == 50


def test_within_files_cuts_each_file_by_rows(folder):
    s = load(folder, frame_size=60, split_type="within_files")
    assert [len(s.y_train), len(s.y_val), len(s.y_test)] == [20 * 6, 20 * 3, 20 * 1]
    rows = {name: x[:, 0] % 1000 for name, x in (("train", s.x_train), ("val", s.x_val), ("test", s.x_test))}
    assert rows["train"].max() < 360 and rows["val"].min() >= 360 and rows["val"].max() < 540
    assert rows["test"].min() >= 540


def test_annotation_lists_choose_files_and_missing_test_uses_val(folder):
    ann = folder / "annotations"
    ann.mkdir()
    (ann / "instances_train_list.txt").write_text("a/rec0.csv\na/rec1.csv\nb/rec0.csv\nclasses/b/rec1.csv\n")
    (ann / "instances_val_list.txt").write_text("a/rec2.csv\nb/rec2.csv\n")
    s = load(folder, frame_size=ROWS)
    assert file_ids(s.x_train) == {0, 1, 10, 11} and file_ids(s.x_val) == {2, 12}
    assert np.array_equal(s.x_test, s.x_val) and s.info["split"] == "annotations"


def test_zip_loads_like_the_folder(folder, tmp_path):
    archive = tmp_path / "ds.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in folder.rglob("*.csv"):
            z.write(f, f.relative_to(folder).as_posix())
    np.testing.assert_array_equal(load(archive, frame_size=200).x_train, load(folder, frame_size=200).x_train)


def test_formats_header_time_columns_txt_npy_and_variables(tmp_path):
    root = tmp_path / "ds"
    write_csv(root / "classes/a/h.csv", tagged(1), header=True, time=True)
    write_csv(root / "classes/a/plain.csv", tagged(2))
    (root / "classes/b").mkdir(parents=True)
    np.savetxt(root / "classes/b/t.txt", tagged(3), delimiter="\t")
    np.savetxt(root / "classes/b/s.txt", tagged(4), delimiter=" ")
    np.save(root / "classes/a/n.npy", tagged(5))
    np.save(root / "classes/b/n.npy", tagged(6))
    s = load(root, frame_size=ROWS, split_factor=[0.34, 0.33, 0.33])
    x = np.concatenate([s.x_train, s.x_val, s.x_test])
    assert x.shape == (6, 2, ROWS) and file_ids(x) == {1, 2, 3, 4, 5, 6}
    np.testing.assert_array_equal(x[:, 1], -x[:, 0])  # time column gone: columns are v, -v everywhere
    one = load(root, frame_size=ROWS, variables=1, split_factor=[0.34, 0.33, 0.33])
    assert one.x_train.shape[1] == 1 and one.info["variables"] == 1


def test_split_missing_a_class_is_warned_by_name(tmp_path, caplog):
    root = make_folder(tmp_path / "ds", {"a": [tagged(i) for i in range(10)], "b": [tagged(10), tagged(11)]})
    with caplog.at_level("WARNING"):
        s = load(root, frame_size=ROWS)
    assert len(s.y_train) == 7 and set(s.y_test.tolist()) == {0}
    assert any("the test split has no sample of class b" in r.getMessage() for r in caplog.records)
