"""Entry point: ``python -m nas_lightning`` / ``nas-lightning`` with Hydra overrides."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .atomic_files import DISK_FULL, disk_full_line
from .config import CONF_DIR, latest_checkpoint, register, validate
from .errors import Interrupted, UserInputError
from .preflight import prepare_command_line
from .target.config import GOALS
from .run_dir import remove_if_fresh, run_lock


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")  # absolute: works as console script too
def _hydra_main(cfg: DictConfig) -> dict | None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        checked = validate(cfg)  # before the heavy imports, so a typo fails in a blink
        if checked.target.active:  # a study of many runs instead of one
            from .target.run import run_target

            with run_lock(run_dir):
                outcome = run_target(checked, run_dir)
            if HydraConfig.get().mode != RunMode.MULTIRUN and not outcome["met"]:
                sys.exit(5)
            return outcome
        from .pipeline import run

        out_dir = Path(checked.resume) if checked.resume else run_dir
        with run_lock(out_dir):
            report = run(checked, cfg, out_dir)
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # one job's verdict must not stop the sweep
            return report
        if not report.get("train", {}).get("learned", True):  # test accuracy at chance; artifacts kept
            sys.exit(4)
        if not report["device"]["ok"]:  # over the device's memory or against its NPU rules; artifacts kept
            sys.exit(3)
        return report
    except UserInputError as err:
        remove_if_fresh(run_dir)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as stop:
        if any(cfg.target.get(goal) is not None for goal in GOALS):  # the raw config: validation may not have run
            print("interrupted: finished trials are kept in the study; re-run the same command to continue it",
                  file=sys.stderr)
            sys.exit(stop.exit_code)
        out_dir = Path(cfg.get("resume") or run_dir)
        kept = latest_checkpoint(out_dir)
        where = f"kept {kept}; continue with resume={out_dir}" if kept else "no checkpoint yet"
        print(f"interrupted: {where}", file=sys.stderr)
        sys.exit(stop.exit_code)
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        print(f"error: {disk_full_line(err, Path(cfg.get('resume') or run_dir))}", file=sys.stderr)
        sys.exit(6)


def _interrupt(signum, frame) -> None:
    raise Interrupted(signum)


def main() -> None:
    register()
    try:
        sys.argv[1:] = prepare_command_line(sys.argv[1:])
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    logging.raiseExceptions = False  # a log file on a full disk: no "--- Logging error ---" traceback
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)  # Slurm and other schedulers: SIGTERM, then SIGKILL after a grace period
    _hydra_main()


if __name__ == "__main__":
    main()
