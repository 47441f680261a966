"""``target.*`` set: run the study instead of one run, then report what it found."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from ..errors import UserInputError
from .outcome import write_outcome
from .study import run_study, study_name, trial_overrides

log = logging.getLogger(__name__)


def study_location(cfg, task_overrides: list[str]) -> tuple[list[str], Path, str]:
    """(the trials' shared overrides, the study directory, the storage URL): the same command maps to the
    same directory and storage, which is what makes re-running it continue the study."""
    shared = trial_overrides(task_overrides)
    study_dir = Path(cfg.target.dir or Path("studies") / study_name(shared, cfg.target))
    if study_dir.exists() and not study_dir.is_dir():
        raise UserInputError(f"target.dir={study_dir}: is a file; give a folder")
    return shared, study_dir, cfg.target.storage or f"sqlite:///{study_dir.resolve() / 'study.db'}"


def _goal(cfg) -> str:
    t, parts = cfg.target, []
    if t.accuracy is not None:
        parts.append(f"val acc >= {100 * t.accuracy:.1f}%")
    if t.flash_kb is not None:
        parts.append(f"flash <= {t.flash_kb:g} KB")
    if t.macs is not None:
        parts.append(f"MACs <= {t.macs:,}")
    if t.latency_us is not None:
        parts.append(f"latency <= {t.latency_us:g} us on {cfg.device.name} (estimated)")
    aim = "smallest" if t.accuracy is not None else "most accurate"
    cost = {"Memory": "deployed params", "Compute": "MACs", "Latency": "estimated latency"}[cfg.mode.name]
    return f"{', '.join(parts)}; the {aim} model by {cost}, device {cfg.device.name}"


def _latency(row: dict) -> str:
    return "" if row.get("latency_us") is None else f"latency {row['latency_us']:,.0f} us (estimated), "


def run_target(cfg, run_dir: Path) -> dict:
    shared, study_dir, storage = study_location(cfg, list(HydraConfig.get().overrides.task))
    fresh = not study_dir.exists()
    study_dir.mkdir(parents=True, exist_ok=True)
    log.info("nas-lightning target: %s\n  study %s (storage %s); trials: preset in %s, mode.weight in %s", _goal(cfg),
             study_dir, storage, cfg.target.presets, cfg.target.weight)
    try:
        study = run_study(cfg, shared, study_dir, storage)
    except UserInputError:  # storage or shared command line refused: a study directory made just now goes again
        if fresh:
            shutil.rmtree(study_dir)
        raise
    outcome = write_outcome(study.get_trials(deepcopy=False), cfg.target, run_dir)
    lines = [f"nas-lightning target: {_goal(cfg)}",
             f"  study: {study_dir} ({storage}), {outcome['trials']} trials: {outcome['complete']} complete, "
             f"{outcome['failed']} failed"]
    if "trial" in outcome:
        r = outcome["trial"]
        what = "chosen" if outcome["met"] else "NO trial met the target; closest"
        lines.append(f"  {what}: trial {r['trial']}, preset {r['preset']}, mode.weight {r['weight']}: {r['params']:,} "
                     f"params, {r['macs']:,} MACs, flash {r['flash_kb']} KB, {_latency(r)}val acc {100 * r['val_acc']:.1f}%")
        if outcome["test_acc"] is None:
            lines.append(f"  its run is on {outcome['host']}: {outcome['run_dir']} (test accuracy in its report.json)")
        else:
            int8 = "" if outcome["test_acc_int8"] is None else f", int8 {100 * outcome['test_acc_int8']:.1f}%"
            lines.append(f"  test acc {100 * outcome['test_acc']:.1f}%{int8} (the test split, read once, for this model)")
    else:
        lines.append("  NO trial completed: see trials.md for each failure's reason")
    chosen = "chosen/ (the model's files), " if (run_dir / "chosen").is_dir() else ""
    lines.append(f"  files: {run_dir}: {chosen}trials.md, trials.csv, pareto.png, outcome.json")
    (run_dir / "summary.txt").write_text("\n".join(lines) + "\n")
    log.info("\n".join(lines))
    return outcome
