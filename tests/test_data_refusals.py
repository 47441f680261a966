"""Every refusal of bad data: one line naming the file (or key) and the problem; through the CLI, exit 2,
a single ``error:`` line, no traceback and nothing of an earlier run overwritten."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import run_cli
from fixtures.ti_folder import make_folder

from nas_lightning.data.config import DataConfig
from nas_lightning.data.sources import load_splits
from nas_lightning.errors import UserInputError


def good(tmp_path, rows=300, columns=2):
    rng = np.random.default_rng(0)
    return make_folder(tmp_path / "ds", {c: [rng.normal(size=(rows, columns)) for _ in range(5)] for c in ("a", "b")})


def refused(path, match, **kw):
    with pytest.raises(UserInputError, match=match) as err:
        load_splits(DataConfig(source="folder", path=str(path), **{"frame_size": 100, **kw}), seed=0)
    assert "\n" not in str(err.value)


def test_missing_path(tmp_path):
    refused(tmp_path / "nope", r"data.path=.*nope: no such file or folder")


def test_no_classes_folder(tmp_path):
    (tmp_path / "ds" / "data").mkdir(parents=True)
    refused(tmp_path / "ds", r"ds: no classes/ folder")


def test_fewer_than_two_classes(tmp_path):
    make_folder(tmp_path / "ds", {"only": [np.zeros((200, 1))]})
    refused(tmp_path / "ds", r"classes: found 1 class folder\(s\) \['only'\]; need at least 2")


def test_class_without_files(tmp_path):
    root = good(tmp_path)
    (root / "classes" / "empty").mkdir()
    refused(root, r"classes/empty: no .csv/.txt/.npy files")
    (root / "classes" / "empty" / "notes.md").write_text("no data here")
    refused(root, r"classes/empty: no .csv/.txt/.npy files")


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("b/wide.csv", "0,0,0\n" * 300, r"wide.csv: 3 measurement columns, but .*rec\d.csv has 2"),
        ("a/bad.csv", "x,y\n1,2\n3,oops\n", r"bad.csv: row 3, column 2: 'oops' is not a number"),
        ("a/bad.csv", "1,2\n" * 150 + "3,nan\n" + "1,2\n" * 150, r"bad.csv: NaN, Inf or a value beyond float32's \+-3.4e38 at data row 151, column 'col1'"),
        ("a/bad.csv", "1,2\n" * 150 + "3,inf\n" + "1,2\n" * 150, r"bad.csv: NaN, Inf or a value beyond float32's \+-3.4e38 at data row 151, column 'col1'"),
        ("a/short.csv", "0,0\n" * 50, r"short.csv: 50 rows, shorter than the window of 100 samples"),
    ],
    ids=["column_count", "non_numeric", "nan", "inf", "shorter_than_frame"],
)
def test_one_bad_recording_in_a_good_folder(tmp_path, name, text, match):
    root = good(tmp_path)
    (root / "classes" / name).write_text(text)
    refused(root, match)


def test_variables_larger_than_columns(tmp_path):
    refused(good(tmp_path), r"data.variables=3: .*rec\d.csv has only 2 measurement columns", variables=3)


def test_annotation_naming_missing_file(tmp_path):
    root = good(tmp_path)
    (root / "annotations").mkdir()
    (root / "annotations/instances_train_list.txt").write_text("a/rec0.csv\na/ghost.csv\n")
    refused(root, r"instances_train_list.txt line 2: a/ghost.csv is not a data file under classes/")


def test_annotation_lists_sharing_a_file_are_refused(tmp_path):
    root = good(tmp_path)
    (root / "annotations").mkdir()
    (root / "annotations/instances_train_list.txt").write_text("a/rec0.csv\nb/rec0.csv\na/rec1.csv\n")
    (root / "annotations/instances_test_list.txt").write_text("a/rec2.csv\nb/rec0.csv\n")
    refused(root, r"instances_test_list.txt: b/rec0.csv is also in annotations/instances_train_list.txt \(1 shared\)")


def test_annotation_list_that_is_not_text(tmp_path):
    root = good(tmp_path)
    (root / "annotations").mkdir()
    (root / "annotations/instances_train_list.txt").write_bytes(b"a/rec0.csv\n\xff\xfe\x00bad\n")
    refused(root, r"instances_train_list.txt: not UTF-8 text")


def test_pickle_is_refused_and_never_loaded(tmp_path):
    root = good(tmp_path)
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (root / "classes/a/rec.pkl").write_bytes(pickle.dumps(Trap()))
    refused(root, r"rec.pkl: pickle files are refused .*to_csv")
    assert not marker.exists()


def test_cli_refusal_is_one_line_and_keeps_the_earlier_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("the user's own file\n")  # a directory holding a run is refused earlier
    result = run_cli(["data=folder", f"data.path={tmp_path / 'missing'}"], run_dir)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: data.path={tmp_path / 'missing'}: no such file or folder"]
    assert (run_dir / "notes.txt").read_text() == "the user's own file\n"
