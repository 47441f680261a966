"""Shared helpers: compose the real Hydra config, and run the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas_lightning.config import register, validate
from nas_lightning.config_files import compose_config

register()
# select=none: the select stage has its own tests (test_select.py); elsewhere it would only add minutes
TINY = ["preset=s", "preset.init_channels=4", "search.epochs=1", "train.epochs=20", "data.samples_per_class=40",
        "select=none"]  # learns past chance (else exit 4)
# a short in-process search; the fast alpha learning rate makes it decide (and collapse) quickly
QUICK_SEARCH = ["preset=s", "data.samples_per_class=30", "data.frame_size=64", "search.epochs=3", "search.alpha_lr=0.05",
                "select=none"]


def perturb_batch_norms(net):
    """BN statistics and affine terms far from identity, so a folding or export mistake shows."""
    import torch

    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            if m.affine:
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
    return net


def compose_run_config(overrides: list[str]):
    """The validated RunConfig the CLI would see for these overrides."""
    return validate(compose_config(overrides))


def search_only(overrides: list[str], out_dir: Path):
    """The real search stage alone, in-process: (its result, the network shape, the datamodule)."""
    from nas_lightning.data.datamodule import TimeSeriesDataModule
    from nas_lightning.devices import Device
    from nas_lightning.search_space.layout import MacroSpec, NetShape
    from nas_lightning.stages.search import search_stage

    cfg = compose_run_config(overrides)
    dm = TimeSeriesDataModule(cfg.data, cfg.seed)
    shape = NetShape(MacroSpec.from_config(cfg.preset), dm.num_channels, dm.input_length, dm.num_classes)
    return search_stage(cfg, dm, shape, Device(cfg.device), out_dir), shape, dm


def run_cli(args: list[str], run_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "nas_lightning", *args, f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def process_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process from /proc (Linux, as CI); None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    stat = process_stat(pid)
    return stat is not None and stat[0] != "Z"


def read_report(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete tiny CLI run (search, train with val held out, export) shared by several tests."""
    run_dir = tmp_path_factory.mktemp("tiny_run")
    result = run_cli([*TINY, "mode=Compute", "device=host", "data.variables=3", "train.fit_on=train"], run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir
