"""Sweep report: ``python -m nas_lightning.report <multirun dir>`` reads every run's report.json
below the directory and writes summary.md, summary.csv and pareto.png there (test accuracy against
deployed parameters, against MACs and, where the device has a latency model, against the estimated
latency; Pareto-optimal runs highlighted, points labelled)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .errors import UserInputError

COLUMNS = ("run", "label", "model", "preset", "mode", "device", "seed", "test_acc", "test_acc_int8",
           "macro_f1", "params", "macs", "flash_kb", "sram_kb", "latency_us", "fits", "pareto_params", "pareto_macs",
           "pareto_latency_us", "seconds")
COSTS = {"params": "deployed parameters", "macs": "MACs per inference", "latency_us": "estimated latency (µs)"}


def collect(root: Path) -> list[dict]:
    """One row per report.json found under ``root`` (sorted by path, so the order is stable)."""
    rows = []
    for path in sorted(root.rglob("report.json")):
        r = json.loads(path.read_text())
        if "train" not in r:
            continue  # a search-only run has no test accuracy to compare
        model = r["model"].get("name", "darts")
        rows.append({
            "run": str(path.parent.relative_to(root)), "model": model, "preset": r["preset"], "mode": r["mode"],
            "label": f"baseline/w{r['config']['model']['width']}" if model == "baseline" else f"{r['preset']}/{r['mode']}",
            "device": r["device"]["name"], "seed": r["seed"], "test_acc": r["train"]["test_acc"],
            "test_acc_int8": r.get("export", {}).get("test_acc_onnx_int8"),
            "macro_f1": r["train"].get("test_macro_f1"), "params": r["model"]["params_deployed"],
            "macs": r["model"]["macs"], "flash_kb": round(r["memory"]["flash_kb"], 1),
            "sram_kb": round(r["memory"]["sram_kb"], 1), "latency_us": r["device"].get("latency_us"), "fits": r["device"]["ok"], "seconds": r["seconds"]["total"],
        })
    if not rows:
        raise UserInputError(f"{root}: no report.json with a test accuracy below this directory")
    mark_pareto(rows, "test_acc")
    return rows


def mark_pareto(rows: list[dict], accuracy: str) -> None:
    """Set ``pareto_<cost>`` on each row for every cost, judged on the ``accuracy`` column. Latency is
    compared only among runs that have one (a host run has none), and only on one device: the same
    network has another latency on another device."""
    for cost in COSTS:
        have = [k for k, row in enumerate(rows) if row.get(cost) is not None]
        devices = {rows[k].get("device") for k in have}
        front = pareto_front([(rows[k][cost], rows[k][accuracy]) for k in have]) if len(devices) <= 1 else set()
        for i, k in enumerate(have):
            rows[k][f"pareto_{cost}"] = i in front
        for k in set(range(len(rows))) - set(have):
            rows[k][f"pareto_{cost}"] = False


def pareto_front(points: list[tuple[float, float]]) -> set[int]:
    """Indices of (cost, accuracy) points no other point beats: cheaper-or-equal and at least as
    accurate, strictly better in one."""
    return {
        i for i, (c, a) in enumerate(points)
        if not any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in points)
    }


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def write_markdown(rows: list[dict], path: Path) -> None:
    lines = ["| run | label | test acc % | int8 acc % | macro F1 | params | MACs | flash KB | SRAM KB | latency µs | "
             "fits | Pareto (params / MACs / latency) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|"]
    for r in sorted(rows, key=lambda r: -r["test_acc"]):
        mark = " / ".join("●" if r[f"pareto_{cost}"] else "·" for cost in COSTS)
        latency = "-" if r["latency_us"] is None else f"{r['latency_us']:,.0f}"
        f1 = "-" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}"
        lines.append(f"| {r['run']} | {r['label']} | {_pct(r['test_acc'])} | {_pct(r['test_acc_int8'])} | {f1} | "
                     f"{r['params']:,} | {r['macs']:,} | {r['flash_kb']} | {r['sram_kb']} | {latency} | "
                     f"{'yes' if r['fits'] else 'NO'} | {mark} |")
    path.write_text("\n".join(lines) + "\n")


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def plot_pareto(rows: list[dict], path: Path, accuracy: str = "test_acc", chosen: dict | None = None) -> None:
    """Accuracy (the ``accuracy`` column) against params, MACs and (when the runs have one, on one
    device) estimated latency; ``chosen`` is ringed."""
    devices = {r.get("device") for r in rows if r.get("latency_us") is not None}
    costs = [c for c in COSTS if c != "latency_us" or len(devices) == 1]
    fig = Figure(figsize=(5.5 * len(costs), 4.5), layout="constrained")
    for ax, cost in zip(fig.subplots(1, len(costs)), costs):
        name = COSTS[cost] + (f" on {next(iter(devices))}" if cost == "latency_us" and next(iter(devices)) else "")
        points = [r for r in rows if r.get(cost) is not None]
        on = [r for r in points if r[f"pareto_{cost}"]]
        off = [r for r in points if not r[f"pareto_{cost}"]]
        ax.scatter([r[cost] for r in off], [100 * r[accuracy] for r in off], c="tab:gray", label="dominated")
        front = sorted(on, key=lambda r: r[cost])
        ax.plot([r[cost] for r in front], [100 * r[accuracy] for r in front], "o-", c="tab:red", label="Pareto front")
        if chosen is not None and chosen.get(cost) is not None:
            ax.scatter([chosen[cost]], [100 * chosen[accuracy]], s=220, facecolors="none", edgecolors="tab:blue",
                       linewidths=2, label=f"chosen: {chosen['label']}")
        labels: dict[tuple, list[str]] = {}  # runs that found the same network share one point
        for r in points:
            labels.setdefault((r[cost], 100 * r[accuracy]), []).append(r["label"])
        for xy, names in labels.items():
            ax.annotate(", ".join(names), xy, textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 1, 2, 5 per decade: labels that never touch
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())  # log-axis minor labels run into each other
        ax.set_xlabel(name)
        ax.set_ylabel(f"{accuracy.split('_')[0]} accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle("accuracy against cost (up and left is better)", fontsize=10)
    fig.savefig(path, dpi=120)


def write_report(root: Path) -> list[dict]:
    rows = collect(root)
    write_markdown(rows, root / "summary.md")
    write_csv(rows, root / "summary.csv")
    plot_pareto(rows, root / "pareto.png")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nas_lightning.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (searched recursively for report.json)")
    args = parser.parse_args(argv)
    try:
        if not args.sweep_dir.is_dir():
            raise UserInputError(f"sweep_dir={args.sweep_dir}: not a directory")
        rows = write_report(args.sweep_dir)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print((args.sweep_dir / "summary.md").read_text(), end="")
    print(f"{len(rows)} runs; wrote summary.md, summary.csv, pareto.png in {args.sweep_dir}")


if __name__ == "__main__":
    main()
