"""Resume: a search SIGKILLed after its first epoch and continued with ``resume=<run dir>`` derives
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

    resumed = run_cli([*ARGS, f"resume={killed}"], tmp_path / "resume_hydra")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = run_cli(ARGS, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert (killed / "genotype.json").read_text() == (tmp_path / "straight" / "genotype.json").read_text()


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="resume="):
        compose_run_config([f"resume={tmp_path}"])
