"""Faults during long runs: a full disk in the search, the retrain or the export, and a SIGKILL in the
select stage or the retrain. Each leaves one line (or nothing, for SIGKILL), keeps the last complete
checkpoint loadable, and ``resume=<run dir>`` ends with the report an uninterrupted run writes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import process_stat, read_report, run_cli, running

FIXTURES = Path(__file__).parent / "fixtures"
# a search of 2 epochs, a select of 5 candidates x 3 folds, a retrain checkpointed after every epoch
ARGS = ["preset=s", "preset.init_channels=4", "search.epochs=2", "data.samples_per_class=20", "select=cv",
        "select.folds=3", "select.rungs=1", "select.origins=[baseline,standard]", "model.width=4", "device=host",
        "train.steps=80", "train.checkpoint_minutes=0"]
SAME = ("genotype", "model")  # report blocks equal between an interrupted-and-resumed run and a straight one


def _outcome(run_dir: Path) -> dict:
    report = read_report(run_dir)
    outcome = {key: report[key] for key in SAME}
    outcome["test_acc"] = report["train"]["test_acc"]
    outcome["int8"] = report["export"]["test_acc_onnx_int8"]
    outcome["select"] = [(c["name"], c["cv_folds"]) for c in report["select"]["candidates"]]
    return outcome


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    done = run_cli(ARGS, run_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    return _outcome(run_dir)


def _resume(run_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    resumed = run_cli([f"resume={run_dir}"], tmp_path / "resume_hydra")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return resumed


@pytest.mark.slow
@pytest.mark.parametrize("name, nth", [("last.ckpt", 2), ("last.ckpt", 40), ("model_int8.onnx", 1)],
                         ids=["search", "retrain", "export"])
def test_a_full_disk_is_one_line_and_resume_finishes_the_run(tmp_path, straight, name, nth):
    """The 2nd write of last.ckpt is the search's second epoch; the 40th, the retrain's (2 search epochs,
    then one per retrain epoch)."""
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full = subprocess.run([sys.executable, str(FIXTURES / "full_disk.py"), name, str(nth), *ARGS,
                           f"hydra.run.dir={run_dir}"], capture_output=True, text=True, env=env, timeout=300)
    assert full.returncode == 6 and "Traceback" not in full.stderr, full.stderr[-3000:]
    errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "disk full" in errors[0] and name in errors[0] and f"resume={run_dir}" in errors[0]
    assert "MB free" in errors[0] and not list(run_dir.rglob(".*.part"))
    kept = sorted(run_dir.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)[-1]
    state = torch.load(kept, weights_only=True, map_location="cpu")  # the previous complete checkpoint
    assert state["state_dict"] and state["optimizer_states"]
    _resume(run_dir, tmp_path)
    assert _outcome(run_dir) == straight


def _kill_when(cmd: list[str], ready) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # mid-stage, past the write that made it ready
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"


@pytest.mark.slow
def test_a_retrain_killed_after_its_first_checkpoint_resumes_from_it(tmp_path, straight):
    run_dir = tmp_path / "run"
    checkpoint = run_dir / "checkpoints" / "train" / "last.ckpt"
    _kill_when([sys.executable, "-m", "nas_lightning", *ARGS, f"hydra.run.dir={run_dir}"], checkpoint.is_file)
    step = torch.load(checkpoint, weights_only=True, map_location="cpu")["global_step"]
    assert 0 < step < 80 and not (run_dir / "report.json").exists()
    resumed = _resume(run_dir, tmp_path)
    assert f"retrain: continuing from {checkpoint} at step" in resumed.stdout
    assert read_report(run_dir)["train"]["resumed_at_step"] >= step
    assert _outcome(run_dir) == straight


@pytest.mark.slow
def test_a_select_killed_midway_keeps_its_finished_folds(tmp_path, straight):
    run_dir = tmp_path / "run"
    record = run_dir / "checkpoints" / "select" / "folds.json"
    _kill_when([sys.executable, "-m", "nas_lightning", *ARGS, f"hydra.run.dir={run_dir}"], record.is_file)
    finished = len(json.loads(record.read_text())["folds"])
    assert 0 < finished and not (run_dir / "checkpoints" / "train").exists()
    resumed = _resume(run_dir, tmp_path)
    assert f"select: {finished} fold fits kept from before the resume" in resumed.stdout
    assert _outcome(run_dir) == straight


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [c for c in pids if (process_stat(c) or ("", 0))[1] == pid and running(c)]


@pytest.mark.slow
def test_sigterm_in_the_select_stage_ends_the_run_at_once(tmp_path):
    """A scheduler's SIGTERM while folds are fitting: exit 143 within seconds, one line naming resume=, and no
    fold worker left running (the pool used to wait for its running fits, minutes on a real archive)."""
    run_dir = tmp_path / "run"
    log = run_dir / "__main__.log"
    args = [a for a in ARGS if not a.startswith("train.")] + ["train.steps=100000"]  # fold fits of minutes
    proc = subprocess.Popen([sys.executable, "-m", "nas_lightning", *args, f"hydra.run.dir={run_dir}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while not (log.is_file() and "select: rung 0" in log.read_text()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)  # the fold workers started and fitting
    workers = _children(proc.pid)
    assert workers and proc.poll() is None
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        for pid in [proc.pid, *workers]:
            subprocess.run(["kill", "-9", str(pid)], stderr=subprocess.DEVNULL)
    assert proc.returncode == 143 and time.monotonic() - stopped < 15
    assert f"resume={run_dir}" in out.strip().splitlines()[-1] and "Traceback" not in out
    time.sleep(1)
    assert not [pid for pid in workers if running(pid)]
