"""Resume: a search SIGKILLed after its first epoch and continued with ``resume=<run dir>`` alone (the run's saved config) derives
the same genotype.json as an uninterrupted run with the same seed; its checkpoint loads with
``weights_only=True`` and holds weights, alphas, both optimizers, the scheduler and the best genotype."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nas_lightning.errors import UserInputError

from conftest import compose_run_config, run_cli

ARGS = ["preset=s", "stages=[search]", "search.epochs=3", "data.samples_per_class=60", "data.batch_size=16",
        "search.alpha_lr=0.01"]


def _kill_after_first_epoch(run_dir: Path) -> None:
    ckpt = run_dir / "checkpoints" / "search" / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-m", "nas_lightning", *ARGS, f"hydra.run.dir={run_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    deadline = time.monotonic() + 240
    while not ckpt.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    size = -1
    while ckpt.is_file() and ckpt.stat().st_size != size:  # let the first save finish writing
        size = ckpt.stat().st_size
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert ckpt.is_file() and not (run_dir / "genotype.json").exists()


@pytest.mark.slow
def test_killed_and_resumed_search_matches_uninterrupted(tmp_path):
    killed = tmp_path / "killed"
    _kill_after_first_epoch(killed)
    state = torch.load(killed / "checkpoints" / "search" / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["epoch"] == 0 and state["best_genotype"] and len(state["optimizer_states"]) == 2
    assert len(state["lr_schedulers"]) == 1
    assert {"supernet.alphas_normal", "supernet.alphas_reduce"} <= set(state["state_dict"])

    resumed = run_cli([f"resume={killed}"], tmp_path / "resume_hydra")  # the run's own saved config
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = run_cli(ARGS, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert (killed / "genotype.json").read_text() == (tmp_path / "straight" / "genotype.json").read_text()


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="resume="):
        compose_run_config([f"resume={tmp_path}"])


def _fake_run(tmp_path: Path, checkpoint: bytes) -> Path:
    run = tmp_path / "earlier"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- preset=s\n- stages=[search]\n- data.samples_per_class=30\n")
    (run / "checkpoints" / "search").mkdir(parents=True)
    (run / "checkpoints" / "search" / "last.ckpt").write_bytes(checkpoint)
    return run


def _listing(run: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(run).as_posix(), p.stat().st_mtime_ns) for p in run.rglob("*"))


def _refused_untouched(tmp_path: Path, run: Path, args: list[str], message: str) -> None:
    before = _listing(run)
    result = run_cli(args, tmp_path / "resume_hydra", timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr
    assert _listing(run) == before  # no TensorBoard file, no lock, nothing rewritten
    assert not (tmp_path / "resume_hydra").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"\x80\x04\x95 not a checkpoint"],
                         ids=["empty", "truncated", "garbage"])
def test_unreadable_checkpoint_is_refused_and_the_run_untouched(tmp_path, content):
    run = _fake_run(tmp_path, content)
    _refused_untouched(tmp_path, run, [f"resume={run}"],
                       f"resume: {run / 'checkpoints' / 'search' / 'last.ckpt'} cannot continue")


def test_foreign_checkpoint_is_refused(tmp_path):
    """A checkpoint of another network (preset m's supernet under a preset s run)."""
    from nas_lightning.search_space.layout import MacroSpec, NetShape
    from nas_lightning.search_space.supernet import SuperNet

    net = SuperNet(NetShape(MacroSpec(10, 4, 4, 3, 4), 3, 64, 3))
    buffer = __import__("io").BytesIO()
    torch.save({"state_dict": {f"supernet.{k}": v for k, v in net.state_dict().items()}}, buffer)
    run = _fake_run(tmp_path, buffer.getvalue())
    _refused_untouched(tmp_path, run, [f"resume={run}"], "cannot continue this search")


def test_override_contradicting_the_resumed_run_is_refused(tmp_path):
    run = _fake_run(tmp_path, b"")
    _refused_untouched(tmp_path, run, [f"resume={run}", "preset=m"], f"resume={run}: that run had preset.name=s")
