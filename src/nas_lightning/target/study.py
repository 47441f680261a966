"""The study: Optuna proposes (preset, mode.weight), each trial is one ordinary run of the stages in its own
directory, judged on validation accuracy (up) and its mode's cost (deployed params, MACs or estimated latency, down).

Optuna does the optimising, the storage and the bookkeeping: a multi-objective TPE sampler with the goals
as trial constraints, an RDB storage (SQLite by default) so a killed study continues where it stopped and several
workers share one study, heartbeats so a trial killed mid-run is marked failed and retried once
(``RetryHeartbeatStaleTrialCallback``), and ``MaxTrialsCallback`` for the cap. What is ours: how a trial runs (a
subprocess of the CLI, so a crash or a device misfit fails that trial only) and when the answer is settled.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from ..errors import UserInputError, first_line
from .config import TargetConfig
from .outcome import chosen_trial, finished

log = logging.getLogger(__name__)
HEARTBEAT_S, GRACE_S = 5, 20  # a RUNNING trial silent for GRACE_S is a killed one: failed, then retried
OPEN_ATTEMPTS = 3
STARTUP_TRIALS = 4  # random proposals before TPE models the results
TRIAL_COST = {"Memory": "params", "Compute": "macs", "Latency": "latency_us"}  # the cost a trial minimises per mode
PINNED = {"preset": "target.presets", "mode.weight": "target.weight", "train.fit_on": "(validation is required)",
          "select.max_latency_us": "target.latency_us"}


class TrialFailed(Exception):
    """A trial's run ended without a usable model; Optuna records it FAILED with this reason."""


def trial_overrides(task_overrides: list[str]) -> list[str]:
    """The command line every trial shares: the user's overrides without the study's own keys. Keys a
    trial sets itself are refused rather than silently replaced."""
    shared = []
    for item in task_overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key.startswith(("target.", "hydra.")):
            continue
        if key in PINNED:
            raise UserInputError(f"{key}: set per trial by the study; use {PINNED[key]} instead")
        shared.append(item)
    return shared


def study_name(shared: list[str], target: TargetConfig) -> str:
    """The same command gives the same study (so re-running it continues); any other command a new one."""
    what = [*sorted(shared), f"{target.accuracy}|{target.flash_kb}|{target.macs}|{target.presets}|{target.weight}"
            + ("" if target.latency_us is None else f"|{target.latency_us}")]
    return "study-" + hashlib.sha1("\n".join(what).encode()).hexdigest()[:10]


def open_study(url: str, name: str, seed: int, shared_storage: bool) -> optuna.Study:
    """Create or load the study. Its sampler is seeded from ``seed`` and the number of trials already
    stored, so a fresh study is reproducible and a continued one does not propose its first trials again.
    A worker on a storage given explicitly may share it with other processes at once, so its seed also
    mixes in the process id (identical seeds would propose identical trials)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are reported by our own lines (and trials.md)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    for attempt in range(OPEN_ATTEMPTS):  # workers starting together race to create a new database's tables
        try:
            storage = RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                 heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
            study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                        directions=["maximize", "minimize"])
            break
        except Exception as err:  # a bad URL, a missing database driver, an unreachable server
            if isinstance(err, ImportError) or attempt == OPEN_ATTEMPTS - 1:  # a missing driver stays missing
                raise UserInputError(f"target.storage={url}: cannot open it ({first_line(err)})") from None
            time.sleep(1 + attempt)
    entropy = [seed, len(study.trials)] + ([os.getpid()] if shared_storage else [])  # mixed, not summed: no collisions
    study.sampler = optuna.samplers.TPESampler(seed=int(np.random.SeedSequence(entropy).generate_state(1)[0]),
                                               n_startup_trials=STARTUP_TRIALS)
    return study


_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None  # the C library, loaded before any fork


def _die_with_parent() -> None:
    """Runs in the forked trial process: it gets SIGKILL when the study's process dies (Linux), so a killed
    study leaves no orphan training. Only a libc call here: the parent has threads (Optuna's heartbeat)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_trial(trial: optuna.Trial, cfg, shared: list[str], study_dir: Path, threads: int) -> tuple[float, float]:
    """One run of the stages; returns (validation accuracy, cost). Test accuracy is never read here."""
    preset = trial.suggest_categorical("preset", cfg.target.presets)
    weight = trial.suggest_float("weight", *cfg.target.weight)
    run_dir = (study_dir / "trials" / f"{trial.number:03d}").resolve()
    trial.set_user_attr("run_dir", str(run_dir))  # absolute: the outcome reads it, maybe from another directory
    trial.set_user_attr("host", socket.gethostname())
    command = [sys.executable, "-m", "nas_lightning", *shared, f"preset={preset}", f"mode.weight={weight:.6g}",
               "train.fit_on=train", f"threads={threads}", f"hydra.run.dir={run_dir}"]
    if cfg.target.latency_us is not None:  # the select stage then never swaps in a slower reference model
        command.append(f"select.max_latency_us={cfg.target.latency_us:g}")
    log.info("  trial %d: preset=%s mode.weight=%.3g ...", trial.number, preset, weight)
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=_die_with_parent)
    reason = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), f"exit {done.returncode}")
    if done.returncode in (130, -signal.SIGINT):  # Ctrl-C reached the trial too: its proposal runs again next time
        trial.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        _fail(trial, "interrupted")
    if done.returncode == 2 and not reason.startswith("error: preset"):
        raise UserInputError(reason.removeprefix("error: "))  # the shared command line: every trial would be refused
    report_file = run_dir / "report.json"
    if done.returncode not in (0, 3, 4) or not report_file.is_file():
        _fail(trial, reason)  # including a preset the device cannot hold: a bad region, not a bad command
    report = json.loads(report_file.read_text())
    if not report["device"]["ok"]:
        lines = (run_dir / "summary.txt").read_text().splitlines()
        _fail(trial, next((ln.strip() for ln in lines if "does NOT fit" in ln), f"does NOT fit {cfg.device.name}"))
    figures = {"val_acc": report["train"]["val_acc"], "params": report["model"]["params_deployed"],
               "macs": report["model"]["macs"], "flash_kb": round(report["memory"]["flash_kb"], 2),
               "latency_us": report["device"].get("latency_us")}
    for key, value in figures.items():
        trial.set_user_attr(key, value)
    for goal, excess in _excess(cfg.target, figures).items():
        trial.set_constraint(goal, excess)  # the sampler and the choice read them
    log.info("  trial %d: val acc %.1f%%, %s params, %s MACs, flash %.1f KB, latency %s us", trial.number,
             100 * figures["val_acc"], f"{figures['params']:,}", f"{figures['macs']:,}", figures["flash_kb"],
             figures["latency_us"])
    return figures["val_acc"], figures[TRIAL_COST[cfg.mode.name]]


def _fail(trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr("failure", reason)
    raise TrialFailed(reason)


def _excess(target: TargetConfig, figures: dict) -> dict[str, float]:
    """Optuna's constraint convention, per goal set: how far the trial is over it (<= 0: met), as a share of
    the goal, so that missing 1 % of the accuracy and 1 % of a MAC budget weigh the same."""
    excess = {}
    if target.accuracy is not None:
        excess["accuracy"] = (target.accuracy - figures["val_acc"]) / target.accuracy
    if target.flash_kb is not None:
        excess["flash_kb"] = (figures["flash_kb"] - target.flash_kb) / target.flash_kb
    if target.macs is not None:
        excess["macs"] = (figures["macs"] - target.macs) / target.macs
    if target.latency_us is not None:
        excess["latency_us"] = (figures["latency_us"] - target.latency_us) / target.latency_us
    return excess


def settled(study: optuna.Study, target: TargetConfig) -> bool:
    """The chosen model stood ``target.trials`` finished trials without being bettered."""
    trials = study.get_trials(deepcopy=False)
    chosen = chosen_trial(trials, target)
    return chosen is not None and sum(t.number > chosen.number for t in finished(trials)) >= target.trials


def run_study(cfg, shared: list[str], study_dir: Path, storage: str) -> optuna.Study:
    """Run trials until settled or capped (both judged on the stored trials, so a resumed study or a second
    worker stops by the same rule). The study's name in the storage comes from the command, like its
    default directory, so workers on other machines find it whatever their ``target.dir``."""
    study = open_study(storage, study_name(shared, cfg.target), cfg.seed, shared_storage=cfg.target.storage is not None)
    cores = len(os.sched_getaffinity(0))
    threads = cfg.threads or max(1, cores // cfg.target.workers)
    cap = MaxTrialsCallback(cfg.target.max_trials, states=(TrialState.COMPLETE, TrialState.FAIL))

    def stop_when_settled(study: optuna.Study, trial) -> None:
        if settled(study, cfg.target):
            study.stop()

    if not settled(study, cfg.target) and len(finished(study.get_trials())) < cfg.target.max_trials:
        study.optimize(lambda trial: run_trial(trial, cfg, shared, study_dir, threads), n_jobs=cfg.target.workers,
                       callbacks=[cap, stop_when_settled], catch=(TrialFailed,))
    return study
