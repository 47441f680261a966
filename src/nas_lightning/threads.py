"""This process's torch thread pools, and the start-up noise of the libraries a run uses."""

from __future__ import annotations

import logging
import os
import warnings

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode


def quiet_lightning() -> None:
    """Start-up banners ('GPU available: False', tips, shape inference) are noise in a CLI run."""
    for name in ("lightning.pytorch", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def default_threads() -> int:
    """The cores this process may use (not the machine's: on a shared or pinned machine more threads than
    cores make every step wait), shared among the jobs a parallel launcher runs at once (joblib's n_jobs;
    two 2-thread jobs on 2 cores ran a test sweep ten times slower than two 1-thread jobs)."""
    cores = len(os.sched_getaffinity(0))
    hydra = HydraConfig.get() if HydraConfig.initialized() else None
    jobs = int(hydra.launcher.get("n_jobs", 1) or 1) if hydra is not None and hydra.mode == RunMode.MULTIRUN else 1
    return max(1, cores // (cores if jobs < 0 else jobs))  # joblib: -1 = one job per core


def set_threads(threads: int | None) -> int:
    """Torch's thread pools sized to ``threads`` (default: ``default_threads()``)."""
    threads = threads or default_threads()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already fixed for this process (set once, before any parallel work)
        pass
    return threads
