"""Round two of refusals: non-finite and out-of-range config values, broken containers, values beyond
float32, the run directory (a file, unwritable, already a run's, locked), a refused run leaving no
directory, and Ctrl-C ending in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from conftest import compose_run_config, run_cli
from fixtures.ti_folder import make_folder

from nas_lightning.data.config import DataConfig
from nas_lightning.data.sources import load_splits
from nas_lightning.errors import UserInputError
from nas_lightning.run_dir import remove_if_fresh, run_lock
from nas_lightning.search_space.genotype import Genotype

CONFIG_REFUSALS = [
    ("mode.weight=nan", "mode.weight=nan: must be a finite number"),
    ("mode.weight=inf", "mode.weight=inf: must be a finite number"),
    ("train.lr=nan", "train.lr=nan: must be a finite number"),
    ("data.noise=nan", "data.noise=nan: must be a finite number"),
    ("search.alpha_betas=[0.5,-inf]", "search.alpha_betas[1]"),
    ("seed=-1", "seed=-1: must be in [0, 4294967295]"),
    ("seed=99999999999999999", "seed=99999999999999999: must be in"),
    ("search.w_momentum=-1", "search.w_momentum=-1.0: must be in [0, 1)"),
    ("train.momentum=1", "train.momentum=1.0: must be in [0, 1)"),
    ("search.alpha_betas=[2,3]", "search.alpha_betas=2.0: must be in [0, 1)"),
    ("search.alpha_betas=[0.5]", "search.alpha_betas=[0.5]: must be two numbers"),
    ("export.opset=5", "export.opset=5: allowed values are 13 to 20"),
    ("trainer.accelerator=tpu", "trainer.accelerator=tpu: allowed values are"),
    ("+trainer.max_epochs=3", "trainer.max_epochs: set by nas-lightning itself"),
    ("+trainer.callbacks=[]", "trainer.callbacks: set by nas-lightning itself"),
    ("data.noise=-1", "data.noise=-1.0: must be >= 0"),
    ("+foo=1", "foo: not a configuration key"),
]


@pytest.mark.parametrize("override, message", CONFIG_REFUSALS, ids=[o for o, _ in CONFIG_REFUSALS])
def test_config_value_refused_before_any_work(override, message):
    with pytest.raises(UserInputError) as err:
        compose_run_config([override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cuda_refused_where_there_is_none():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserInputError, match="trainer.accelerator=gpu: no such device"):
        compose_run_config(["trainer.accelerator=gpu"])


CLI_REFUSALS = [
    (["search.epoch=2"], "Key 'epoch' not in 'SearchConfig'"),
    (["seed=abc"], "seed=abc"),
    (["mode.weight=nan"], "mode.weight=nan"),
    (["stages=[search]", "genotype=g.json"], "genotype=g.json: a search writes its own genotype"),
    (["+trainer.precision=7"], "trainer: "),
    (["search.steps=1.5"], "search.steps=1.5"),
    (["device=F28004", "target.latency_us=-1"], "target.latency_us=-1.0: must be > 0 or null"),
]


@pytest.mark.parametrize("args, message", CLI_REFUSALS, ids=[" ".join(a) for a, _ in CLI_REFUSALS])
def test_refused_run_leaves_no_directory(tmp_path, args, message):
    run_dir = tmp_path / "new" / "run"
    result = run_cli(args, run_dir, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "new").exists()


def test_refusal_after_hydra_made_the_directory_removes_it(tmp_path):
    """A data problem is found inside the task, after Hydra wrote .hydra/: the fresh directory goes."""
    run_dir = tmp_path / "run"
    result = run_cli(["data=folder", f"data.path={tmp_path / 'missing'}"], run_dir, timeout=60)
    assert result.returncode == 2 and "no such file or folder" in result.stderr
    assert not run_dir.exists()


def test_run_directory_problems_are_one_line(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    earlier = tmp_path / "earlier"
    (earlier / ".hydra").mkdir(parents=True)
    (earlier / "report.json").write_text("{}")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    cases = [(a_file, "is a file"), (a_file / "sub", "cannot write there"), (earlier, "already holds a run")]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((read_only / "run", "cannot write there"))
    for run_dir, message in cases:
        result = run_cli([], run_dir, timeout=60)
        assert result.returncode == 2 and f"hydra.run.dir={run_dir}: {message}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert a_file.read_text() == "keep me" and (earlier / "report.json").read_text() == "{}"
    assert sorted(p.name for p in earlier.iterdir()) == [".hydra", "report.json"]


def test_run_lock_refuses_a_second_run_and_takes_over_a_dead_ones(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(UserInputError, match=f"another run \\(pid {os.getpid()}\\) is writing there"):
            with run_lock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(dead.stdout.strip())
    with run_lock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())


def test_remove_if_fresh_keeps_anything_a_run_wrote(tmp_path):
    (tmp_path / "fresh" / ".hydra").mkdir(parents=True)
    (tmp_path / "fresh" / "__main__.log").write_text("[...] nas-lightning run: ...\n")
    (tmp_path / "used" / ".hydra").mkdir(parents=True)
    (tmp_path / "used" / "genotype.json").write_text("{}")
    remove_if_fresh(tmp_path / "fresh")
    remove_if_fresh(tmp_path / "used")
    assert not (tmp_path / "fresh").exists() and (tmp_path / "used" / "genotype.json").exists()


@pytest.mark.slow  # waits for a real search checkpoint before the interrupt
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_is_one_line_naming_what_was_kept(tmp_path, signum, code):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nas_lightning", "preset=s", "search.epochs=50",
                             f"hydra.run.dir={run_dir}"], stderr=subprocess.PIPE, text=True, env=env)
    checkpoint = run_dir / "checkpoints" / "search" / "last.ckpt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted:")]
    assert len(lines) == 1 and f"resume={run_dir}" in lines[0], err
    assert not (run_dir / ".lock").exists()


def _folder_with(tmp_path, name: str, data: bytes):
    rng = np.random.default_rng(0)
    root = make_folder(tmp_path / "ds", {c: [rng.normal(size=(300, 2)) for _ in range(4)] for c in ("a", "b")})
    (root / "classes" / "a" / name).write_bytes(data)
    return root


def _refused(path, match):
    with pytest.raises(UserInputError, match=match) as err:
        load_splits(DataConfig(source="folder", path=str(path), frame_size=100), seed=0)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", ["1e39", "-1e300"])
def test_values_beyond_float32_are_refused_with_file_and_row(tmp_path, value):
    text = "1,2\n" * 10 + f"3,{value}\n" + "1,2\n" * 200
    _refused(_folder_with(tmp_path, "big.csv", text.encode()), r"big.csv: NaN, Inf or a value beyond float32.* row 11")


def test_values_that_overflow_the_standardisation_are_refused():
    """Finite in float32, but 3e38 over a training std of 1e-3 is not."""
    from nas_lightning.data.splits import DataSplits, normalise

    x = np.random.default_rng(0).normal(scale=1e-3, size=(6, 1, 20)).astype(np.float32)
    test = x.copy()
    test[0, 0, 5] = 3e38
    y = np.array([0, 1] * 3)
    with pytest.raises(UserInputError, match="data: the test split holds values that are not finite after standardising"):
        normalise(DataSplits(x, y, x.copy(), y, test, y, ["a", "b"]))
    wide = x.copy()
    wide[:3] = 3e38
    wide[3:] = -3e38
    assert np.isfinite(normalise(DataSplits(wide, y, wide.copy(), y, wide.copy(), y, ["a", "b"])).x_train).all()


def _npy(array) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _npz() -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((300, 2)))
    return buf.getvalue()


@pytest.mark.parametrize("data, match", [
    (b"", r"empty.npy: not a plain numeric .npy array"),
    (_npz(), r"empty.npy: an .npz archive"),
    (_npy(np.zeros(0)), r"empty.npy: the array is empty"),
], ids=["zero_bytes", "npz_renamed", "shape_0"])
def test_broken_npy_files(tmp_path, data, match):
    _refused(_folder_with(tmp_path, "empty.npy", data), match)


def _zip_of(root, path, mutate=None, **kw):
    with zipfile.ZipFile(path, "w", **kw) as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(root).as_posix())
    data = bytearray(path.read_bytes())
    if mutate:
        mutate(data)
    path.write_bytes(bytes(data))
    return path


def test_broken_zips_are_one_line(tmp_path):
    rng = np.random.default_rng(0)
    root = make_folder(tmp_path / "ds", {c: [rng.normal(size=(300, 2)) for _ in range(4)] for c in ("a", "b")})
    good = _zip_of(root, tmp_path / "good.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    _refused(truncated, r"truncated.zip: a file that is not a .zip|truncated.zip: a broken zip")

    def flip_data_byte(data):  # inside the first stored member's data: its CRC no longer matches
        data[60] ^= 0xFF

    bad_crc = _zip_of(root, tmp_path / "crc.zip", flip_data_byte)
    _refused(bad_crc, r"crc.zip!.*: cannot be read from the zip")

    def patch_central_directory(offset: int, value: int):
        def mutate(data):
            start = 0
            while (start := data.find(b"PK\x01\x02", start)) != -1:
                data[start + offset] = value
                start += 4
        return mutate

    encrypted = _zip_of(root, tmp_path / "encrypted.zip", patch_central_directory(8, 0x01))  # flag bit 0
    _refused(encrypted, r"encrypted.zip!.*: cannot be read from the zip \(.*encrypted")
    odd_method = _zip_of(root, tmp_path / "method.zip", patch_central_directory(10, 99))  # compression 99
    _refused(odd_method, r"method.zip!.*: cannot be read from the zip")

    escaping = tmp_path / "escape.zip"
    with zipfile.ZipFile(escaping, "w") as zf:
        zf.writestr("classes/../../evil/x.csv", "1,2\n")
    _refused(escaping, r"escape.zip: zip entry 'classes/../../evil/x.csv' points outside the archive")


def test_deeply_nested_genotype_json_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserInputError, match="nested too deep"):
        Genotype.load(path)


@pytest.mark.slow  # 10 s: make test-full
def test_a_runs_saved_config_runs_again_and_is_checked(tiny_run, tmp_path):
    """``--config-path <run>/.hydra --config-name config``: the saved config has no schema attached;
    it is typed by the same schema, so it runs, and a bad override of it is still one line."""
    saved = ["--config-path", str(tiny_run / ".hydra"), "--config-name", "config"]
    bad = run_cli([*saved, "seed=-1"], tmp_path / "bad", timeout=60)
    assert bad.returncode == 2 and "seed=-1: must be in" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    again = run_cli([*saved, "stages=[search]"], tmp_path / "again", timeout=240)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "again" / "genotype.json").is_file()
