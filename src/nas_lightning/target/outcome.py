"""What a study found: the chosen trial (on validation figures only), every trial, the Pareto plot, and
the chosen model's test accuracy read once, at the end."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from ..report import mark_pareto, plot_pareto
from .config import TargetConfig

log = logging.getLogger(__name__)
CHOSEN_FILES = ("genotype.json", "model.onnx", "model_int8.onnx", "report.json", "summary.txt", "confusion_matrix.png")
TRIAL_COLUMNS = ("trial", "state", "preset", "weight", "val_acc", "params", "macs", "flash_kb", "latency_us",
                 "meets_target", "note")


def finished(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)]


def _meets(trial: FrozenTrial) -> bool:
    """Complete, and over none of its goals (the constraints the trial set: excess <= 0 = met)."""
    return trial.state == TrialState.COMPLETE and bool(trial.constraints) and all(
        c <= 0 for c in trial.constraints.values())


def chosen_trial(trials: list[FrozenTrial], target: TargetConfig) -> FrozenTrial | None:
    """Among trials meeting every target: with an accuracy target the cheapest (then the most accurate,
    then the earliest); with only budgets the most accurate (then the cheapest, then the earliest)."""
    meeting = [t for t in trials if _meets(t)]
    if not meeting:
        return None
    if target.accuracy is not None:
        return min(meeting, key=lambda t: (t.values[1], -t.values[0], t.number))
    return min(meeting, key=lambda t: (-t.values[0], t.values[1], t.number))


def best_missing(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """When nothing met the target: the trial closest to it (smallest worst excess)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return min(complete, key=lambda t: (max(t.constraints.values(), default=0.0), t.number)) if complete else None


def _row(t: FrozenTrial) -> dict:
    a = t.user_attrs
    note = a.get("failure", "killed mid-run") if t.state == TrialState.FAIL else ""
    retry_of = t.system_attrs.get("failed_trial", a.get("retry_of"))
    if retry_of is not None:
        note = f"retry of trial {retry_of}" + (f": {note}" if note else "")
    return {"trial": t.number, "state": t.state.name.lower(), "preset": t.params.get("preset"),
            "weight": round(t.params["weight"], 3) if "weight" in t.params else None, "val_acc": a.get("val_acc"),
            "params": a.get("params"), "macs": a.get("macs"), "flash_kb": a.get("flash_kb"),
            "latency_us": a.get("latency_us"), "meets_target": _meets(t), "note": note}


def _markdown(rows: list[dict]) -> str:
    lines = ["| trial | state | preset | mode.weight | val acc % | params | MACs | flash KB | latency µs | meets target | "
             "note |", "|---:|---|---|---:|---:|---:|---:|---:|---:|:-:|---|"]
    for r in rows:
        acc = "-" if r["val_acc"] is None else f"{100 * r['val_acc']:.1f}"
        count = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731
        lines.append(f"| {r['trial']} | {r['state']} | {r['preset']} | {r['weight']} | {acc} | {count(r['params'])} | "
                     f"{count(r['macs'])} | {r['flash_kb'] or '-'} | {r['latency_us'] or '-'} | {'yes' if r['meets_target'] else ''} | {r['note']} |")
    return "\n".join(lines) + "\n"


def write_outcome(trials: list[FrozenTrial], target: TargetConfig, out_dir: Path) -> dict:
    """Files in ``out_dir``: trials.md / trials.csv (every trial), pareto.png (validation accuracy against
    cost, the chosen trial ringed), chosen/ (the chosen run's model files). Returns the outcome dict
    (also written as outcome.json); its test accuracy is the only one the study ever reads."""
    rows = [_row(t) for t in sorted(trials, key=lambda t: t.number) if t.state != TrialState.RUNNING]
    (out_dir / "trials.md").write_text(_markdown(rows))
    with (out_dir / "trials.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TRIAL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    chosen = chosen_trial(trials, target)
    outcome = {"met": chosen is not None, "trials": len(rows),
               "complete": sum(r["state"] == "complete" for r in rows), "failed": sum(r["state"] == "fail" for r in rows)}
    scored = [dict(r, label=f"#{r['trial']}") for r in rows if r["state"] == "complete"]  # trials.md has the rest
    if scored:
        mark_pareto(scored, "val_acc")
        ringed = next((r for r in scored if chosen and r["trial"] == chosen.number), None)
        plot_pareto(scored, out_dir / "pareto.png", accuracy="val_acc", chosen=ringed)
    pick = chosen or best_missing(trials)
    if pick is not None:
        outcome["trial"] = _row(pick)
        run_dir = Path(pick.user_attrs["run_dir"])
        outcome["run_dir"], outcome["host"] = str(run_dir), pick.user_attrs.get("host")
        outcome["test_acc"] = outcome["test_acc_int8"] = None
        if not (run_dir / "report.json").is_file():  # run by a worker on another machine: its files are there
            log.warning("trial %d ran on %s: its files are in %s there", pick.number, outcome["host"], run_dir)
        else:
            report = json.loads((run_dir / "report.json").read_text())  # test accuracy: read here, once
            outcome["test_acc"] = report["train"]["test_acc"]
            outcome["test_acc_int8"] = report.get("export", {}).get("test_acc_onnx_int8")
        if chosen is not None and outcome["test_acc"] is not None:
            (out_dir / "chosen").mkdir()
            for name in CHOSEN_FILES:
                if (run_dir / name).is_file():
                    shutil.copy2(run_dir / name, out_dir / "chosen" / name)
    (out_dir / "outcome.json").write_text(json.dumps(outcome, indent=2) + "\n")
    return outcome
