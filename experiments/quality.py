"""Is the search worth running? The product's own command on real archives, side by side with random
genotypes of the same space and the hand-designed baseline, all under the same retrain.

For each aeon archive: ``python -m nas_lightning data=aeon data.name=X`` (the search, plus any
``--set`` overrides), then K random genotypes of its space (same preset and device rules: every node
draws a non-``none`` allowed op and an earlier input uniformly; concat as the search derives it),
each retrained and exported with ``stages=[train,export]``, then ``model=baseline``. Every run is a
real CLI run in its own directory; the table reads their report.json files.

    python experiments/quality.py --datasets GunPoint BasicMotions ACSF1 --random 5 --out experiments/quality

Run directories go under ``--out``; ``--figures`` (default docs/figures) gets ``quality.md`` (table and
verdicts under the command's provenance line) and ``quality.png`` (test accuracy against deployed params).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from figures import FIGURES, write_figure
from nas_lightning.devices import NPU_BANNED_OPS
from nas_lightning.run_dir import RUN_MARKERS
from nas_lightning.search_space.ops import PRIMITIVES


def run_product(run_dir: Path, args: list[str]) -> dict:
    """One CLI run (skipped when its report.json exists, so an interrupted study continues)."""
    report = run_dir / "report.json"
    if not report.is_file():
        for leftover in RUN_MARKERS:  # an interrupted run's files: the CLI refuses a directory holding a run
            path = run_dir / leftover
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "nas_lightning", *args, f"hydra.run.dir={run_dir}"]
        print("$", " ".join(cmd[1:]), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode not in (0, 3, 4):  # ran, but the model does not fit the device (3) or learned nothing (4)
            raise SystemExit(f"{run_dir}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return json.loads(report.read_text())


def random_genotype(nodes: int, fanout: int, banned: list[str], rng: random.Random) -> dict:
    ops = [p for p in PRIMITIVES if p != "none" and p not in banned]
    cell = lambda: [[rng.choice(ops), rng.randrange(k)] for k in range(1, nodes + 1)]  # noqa: E731
    concat = list(range(nodes - fanout + 1, nodes + 1))
    return {"normal": cell(), "reduce": cell(), "normal_concat": concat, "reduce_concat": concat}


def row(report: dict) -> dict:
    seconds = report["seconds"]
    return {"acc": report["train"]["test_acc"], "int8": report["export"]["test_acc_onnx_int8"],
            "params": report["model"]["params_deployed"], "macs": report["model"]["macs"],
            "flash_kb": report["memory"]["flash_kb"], "search_s": seconds.get("search", 0.0),
            "retrain_s": seconds["train_and_export"], "total_s": seconds["total"],
            "entropy_drop": {t: e["drop"] for t, e in report.get("search", {}).get("alpha_entropy", {}).items()}}


def study(name: str, out: Path, k: int, extra: list[str], seed: int) -> dict:
    base = ["data=aeon", f"data.name={name}", *extra]
    searched = run_product(out / name / "searched", base)
    preset = searched["config"]["preset"]
    banned = NPU_BANNED_OPS if searched["device"]["has_npu"] else []
    rng = random.Random(seed)
    randoms = []
    for i in range(k):
        run_dir = out / name / f"random_{i}"
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "random_genotype.json"
        genotype = random_genotype(preset["nodes_per_layer"], preset["fanout_concat"], banned, rng)
        path.write_text(json.dumps(genotype))
        randoms.append(row(run_product(run_dir, [*base, "stages=[train,export]", f"genotype={path}"])))
    baseline = row(run_product(out / name / "baseline", [*base, "model=baseline"]))
    return {"searched": row(searched), "random": randoms, "baseline": baseline}


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(results: dict) -> str:
    lines = ["| dataset | model | test acc | int8 acc | deployed params | MACs | flash KB | search s | retrain s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    def fmt(r: dict) -> str:
        return (f"{r['acc']:.3f} | {r['int8']:.3f} | {r['params']:,} | {r['macs']:,} | {r['flash_kb']:.1f} | "
                f"{r['search_s']:.0f} | {r['retrain_s']:.0f} |")

    verdicts = []
    for name, res in results.items():
        lines.append(f"| {name} | searched | {fmt(res['searched'])}")
        rs = res["random"]
        acc_m, acc_sd = mean_sd([r["acc"] for r in rs])
        int8_m, int8_sd = mean_sd([r["int8"] for r in rs])
        params_m, _ = mean_sd([r["params"] for r in rs])
        lines.append(f"| {name} | random x{len(rs)} (mean ± sd) | {acc_m:.3f} ± {acc_sd:.3f} | "
                     f"{int8_m:.3f} ± {int8_sd:.3f} | {params_m:,.0f} | | | | "
                     f"{mean_sd([r['retrain_s'] for r in rs])[0]:.0f} |")
        lines.append(f"| {name} | baseline (FCN) | {fmt(res['baseline'])}")
        s = res["searched"]
        worst_drop = max(r["acc"] - r["int8"] for r in [s, res["baseline"], *rs])
        random_accs = ", ".join(f"{r['acc']:.3f}" for r in rs)
        verdicts.append(f"- {name}: searched {s['acc']:.3f} vs random mean + 1 sd {acc_m + acc_sd:.3f} "
                        f"({'beats' if s['acc'] >= acc_m + acc_sd else 'does not beat'} it); random accuracies "
                        f"{random_accs}; largest int8 drop in the rows {100 * worst_drop:.1f} pt; "
                        f"alpha entropy drop {s['entropy_drop']}; whole searched run {s['total_s']:.0f} s")
    return "\n".join(lines + [""] + verdicts) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        ax.scatter([r["params"] for r in res["random"]], [r["acc"] for r in res["random"]], c="grey", label="random")
        ax.scatter([res["baseline"]["params"]], [res["baseline"]["acc"]], marker="s", c="tab:blue", label="baseline")
        searched = res["searched"]
        ax.scatter([searched["params"]], [searched["acc"]], marker="*", s=160, c="tab:red", label="searched")
        ax.set(title=name, xlabel="deployed params", ylabel="test accuracy")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["GunPoint", "BasicMotions", "ACSF1"])
    parser.add_argument("--random", type=int, default=5, help="random genotypes per dataset")
    parser.add_argument("--out", type=Path, default=Path("experiments/quality"))
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where quality.md and quality.png go")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random genotype draws")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every run, e.g. mode.weight=0.3")
    args = parser.parse_args()
    results = {name: study(name, args.out, args.random, args.set, args.seed) for name in args.datasets}
    (args.out / "quality.json").write_text(json.dumps(results, indent=2))
    text = table(results)
    write_figure(args.figures / "quality.md", text)
    plot(results, args.figures / "quality.png")
    print(text)


if __name__ == "__main__":
    main()
