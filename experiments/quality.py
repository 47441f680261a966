"""Is the tool's answer worth deploying? The product's own command on real archives, side by side with
what it chose from and what a user could have typed in instead, all under the same retrain.

For each aeon archive and seed: ``python -m nas_lightning data=aeon data.name=X`` (search, select,
retrain: the "final" row, plus any ``--set`` overrides), the searched genotype alone before selection
(``stages=[train,export] genotype=<final run>/genotype.json``), K random genotypes of its space (same
preset and device rules: every node draws a non-``none`` allowed op and an earlier input uniformly;
concat as the search derives it; ``--space chain``: every layer draws an allowed op, width and stride),
``model=baseline`` and each of TI's standard models
(``model=cls_*``). Every run is a real CLI run in its own directory; the table reads their report.json
files. The selector's hit rate is computed after the fact, never used to choose: over archives x
seeds, how often the chosen candidate's test accuracy is within 1 point of the best candidate's.

    python experiments/quality.py --datasets GunPoint BasicMotions ACSF1 --random 3 --seeds 0 1 2 --out experiments/quality

Run directories go under ``--out``; ``--figures`` (default docs/figures) gets ``quality.md`` (table and
verdicts under the command's provenance line) and ``quality.png`` (test accuracy against deployed params).
``--space chain`` runs every search in ``space=chain``: its own rows, in ``<out>/chain`` and
``quality_chain.md`` / ``quality_chain.png``; the reference rows (baseline, TI's models) search nothing and are
read from (or run into) the cells study's ``--out``.
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
from nas_lightning.devices import NPU_BANNED_OPS, Device
from nas_lightning.run_dir import RUN_MARKERS
from nas_lightning.search_space.ops import PRIMITIVES
from nas_lightning.search_space.standard import STANDARD_MODELS

HIT_MARGIN = 0.01  # a choice within this of the best candidate's test accuracy is a hit


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


def chain_space_of(final: dict):
    """The chain space the ``final`` run searched (its preset, device, space keys and data shape)."""
    from nas_lightning.config import register, validate
    from nas_lightning.config_files import compose_config
    from nas_lightning.search_space.layout import NetShape

    register()
    c = final["config"]
    cfg = validate(compose_config(["space=chain", f"device={c['device']['name']}", f"preset={c['preset']['name']}",
                                   *(f"space.{k}={'null' if v is None else v}" for k, v in c["space"].items() if k != "name")]))
    d = final["data"]
    return Device(cfg.device).chain_space(cfg.space, cfg.preset.name, NetShape(None, d["channels"], d["length"], len(d["classes"])))


def random_chain(space, rng: random.Random):
    """A random genotype of the chain ``space``: every layer an allowed op, width and stride, drawn uniformly."""
    from nas_lightning.search_space.chain_derive import derive_chain, random_logits

    return derive_chain(space, random_logits(space, rng))


def row(report: dict) -> dict:
    seconds = report["seconds"]
    return {"name": report["model"]["name"], "acc": report["train"]["test_acc"],
            "int8": report["export"]["test_acc_onnx_int8"],
            "params": report["model"]["params_deployed"], "macs": report["model"]["macs"],
            "flash_kb": report["memory"]["flash_kb"], "search_s": seconds.get("search", 0.0),
            "select_s": seconds.get("select", 0.0), "retrain_s": seconds["train_and_export"],
            "total_s": seconds["total"], "select": report.get("select"),
            "entropy_drop": {t: e["drop"] for t, e in report.get("search", {}).get("alpha_entropy", {}).items()}}


def study(name: str, out: Path, k: int, extra: list[str], seed: int, random_seed: int, first: bool,
          refs: Path | None = None) -> dict:
    """One archive at one seed; the ``k`` random genotypes only for the ``first`` seed (the 2x-budget run at
    every seed: one seed's change on 100 test series moves in whole points)."""
    base = ["data=aeon", f"data.name={name}", f"seed={seed}", *extra]
    where = out / name / f"seed{seed}"
    final = run_product(where / "final", base)
    searched = run_product(where / "searched_only", [*base, "stages=[train,export]",
                                                     f"genotype={where / 'final' / 'genotype.json'}"])
    # convergence: the chosen architecture retrained with twice the budget (epoch and step caps, plateau patience)
    twice = run_product(where / "final_2x_budget", [*base, "stages=[train,export]", f"genotype={where / 'final' / 'model.json'}",
                                                    f"train.epochs={2 * final['config']['train']['epochs']}",
                                                    f"train.max_steps={2 * final['config']['train']['max_steps']}",
                                                    f"train.patience={2 * final['config']['train']['patience']}"])
    preset = final["config"]["preset"]
    banned = NPU_BANNED_OPS if final["device"]["has_npu"] else []
    rng = random.Random(random_seed)
    space = chain_space_of(final) if final["config"]["space"]["name"] == "chain" else None
    randoms = []
    for i in range(k if first else 0):
        run_dir = where / f"random_{i}"
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "random_genotype.json"
        genotype = (json.loads(random_chain(space, rng).to_json()) if space is not None
                    else random_genotype(preset["nodes_per_layer"], preset["fanout_concat"], banned, rng))
        path.write_text(json.dumps(genotype))
        randoms.append(row(run_product(run_dir, [*base, "stages=[train,export]", f"genotype={path}"])))
    ref_where = where if refs is None else refs / name / f"seed{seed}"
    ref_base = [a for a in base if not a.startswith("space")]  # nothing searched: the space does not matter
    baseline = row(run_product(ref_where / "baseline", [*ref_base, "model=baseline"]))
    standard = {m: row(run_product(ref_where / m, [*ref_base, f"model={m}"])) for m in STANDARD_MODELS}
    return {"final": row(final), "twice": row(twice), "searched": row(searched), "random": randoms,
            "baseline": baseline, "standard": standard}


def hit(res: dict) -> tuple[bool, str, float] | None:
    """Was the chosen candidate within HIT_MARGIN of the best candidate on the test split? (The
    candidates trained alone: searched genotype, baseline, standard models; not the alternatives.)"""
    select = res["final"]["select"]
    if not select or "skipped" in select:
        return None
    tests = {"searched": res["searched"]["acc"], "baseline": res["baseline"]["acc"],
             **{m: r["acc"] for m, r in res["standard"].items()}}
    names = [c["name"] for c in select["candidates"] if c["name"] in tests]  # ties: the first in the select table
    best = max(names, key=lambda n: tests[n])
    chosen = res["final"]["acc"]
    return chosen >= tests[best] - HIT_MARGIN, best, tests[best]


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(results: dict) -> str:
    """The first seed's rows per archive, then the verdicts and the hit rate over every seed."""
    lines = ["| dataset | model | test acc | int8 acc | deployed params | MACs | flash KB | search s | select s | retrain s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    def fmt(r: dict) -> str:
        return (f"{r['acc']:.3f} | {r['int8']:.3f} | {r['params']:,} | {r['macs']:,} | {r['flash_kb']:.1f} | "
                f"{r['search_s']:.0f} | {r['select_s']:.0f} | {r['retrain_s']:.0f} |")

    verdicts, hits = [], []
    for name, by_seed in results.items():
        seed, res = next(iter(by_seed.items()))
        lines.append(f"| {name} | **final** ({res['final']['name']}, seed {seed}) | {fmt(res['final'])}")
        lines.append(f"| {name} | final, 2x training budget | {fmt(res['twice'])}")
        lines.append(f"| {name} | searched only | {fmt(res['searched'])}")
        rs = res["random"]
        if rs:
            acc_m, acc_sd = mean_sd([r["acc"] for r in rs])
            int8_m, int8_sd = mean_sd([r["int8"] for r in rs])
            lines.append(f"| {name} | random x{len(rs)} (mean ± sd) | {acc_m:.3f} ± {acc_sd:.3f} | "
                         f"{int8_m:.3f} ± {int8_sd:.3f} | {mean_sd([r['params'] for r in rs])[0]:,.0f} | | | | | "
                         f"{mean_sd([r['retrain_s'] for r in rs])[0]:.0f} |")
        lines.append(f"| {name} | baseline (FCN) | {fmt(res['baseline'])}")
        for m, r in res["standard"].items():
            lines.append(f"| {name} | {m} | {fmt(r)}")
        f, s = res["final"], res["searched"]
        worst_drop = max(r["acc"] - r["int8"] for r in [f, s, res["baseline"], *rs, *res["standard"].values()])
        against = (f"vs random mean + 1 sd {acc_m + acc_sd:.3f} ({'beats' if s['acc'] >= acc_m + acc_sd else 'does not beat'}"
                   f" it)" if rs else "(no random genotypes drawn)")
        verdicts.append(f"- {name}: final {f['name']} {f['acc']:.3f} at {f['params']:,} params in {f['total_s']:.0f} s; "
                        f"searched only {s['acc']:.3f} at {s['params']:,} {against}; largest int8 drop in the "
                        f"rows {100 * worst_drop:.1f} pt; 2x training budget changes the final test accuracy by "
                        f"{100 * mean_sd([r['twice']['acc'] - r['final']['acc'] for r in by_seed.values()])[0]:+.1f} pt "
                        f"(mean of {len(by_seed)} seed{'s' if len(by_seed) > 1 else ''})")
        for seed, res in by_seed.items():
            h = hit(res)
            if h is not None:
                hits.append(h[0])
                verdicts.append(f"  - seed {seed}: chose {res['final']['name']} (test {res['final']['acc']:.3f}, 2x budget "
                                f"{res['twice']['acc']:.3f}); best candidate {h[1]} (test {h[2]:.3f}): "
                                f"{'hit' if h[0] else 'miss'}")
    if hits:
        verdicts.append(f"- selector hit rate (chosen within {100 * HIT_MARGIN:.0f} pt of the best candidate's test "
                        f"accuracy): {sum(hits)}/{len(hits)}")
    return "\n".join(lines + [""] + verdicts + select_tables(results)) + "\n"


def select_tables(results: dict) -> list[str]:
    """The final run's select table per archive (first seed), as report.json holds it."""
    lines = []
    for name, by_seed in results.items():
        seed, res = next(iter(by_seed.items()))
        select = res["final"]["select"]
        if not select or "skipped" in select:
            continue
        lines += ["", f"Select stage, {name} seed {seed}: {select['folds']}-fold CV x {select['repeats']} on train+val, "
                      f"rule {select['rule']}, decided at rung {select['decided_at_rung']}, {select['seconds']:.0f} s"
                      + (" (stopped by select.max_minutes)" if select["stopped_by_time_cap"] else ""), "",
                  "| candidate | origin | deployed params | MACs | flash KB | CV mean ± sd | rung | bar | chosen |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in select["candidates"]:
            cv = "" if c["cv_mean"] is None else f"{c['cv_mean']:.3f} ± {c['cv_sd']:.3f}"
            bar = "" if c["bar"] is None else f"{c['bar']:.3f}"
            lines.append(f"| {c['name']} | {c['origin']} | {c['params_deployed']:,} | {c['macs']:,} | {c['flash_kb']:.1f} | "
                         f"{cv} | {c['rung']} | {bar} | {'**yes**' if c['chosen'] else ''} |")
    return lines


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, (name, by_seed) in zip(axes[0], results.items()):
        res = next(iter(by_seed.values()))
        ax.scatter([r["params"] for r in res["random"]], [r["acc"] for r in res["random"]], c="grey", label="random")
        ax.scatter([res["baseline"]["params"]], [res["baseline"]["acc"]], marker="s", c="tab:blue", label="baseline")
        std = list(res["standard"].values())
        ax.scatter([r["params"] for r in std], [r["acc"] for r in std], marker="^", c="tab:green", label="TI standard")
        ax.scatter([res["searched"]["params"]], [res["searched"]["acc"]], marker="x", s=80, c="tab:orange",
                   label="searched only")
        final = res["final"]
        ax.scatter([final["params"]], [final["acc"]], marker="*", s=160, c="tab:red", label="final (selected)")
        ax.set(title=name, xlabel="deployed params", ylabel="test accuracy", xscale="log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["GunPoint", "BasicMotions", "ACSF1"])
    parser.add_argument("--random", type=int, default=5, help="random genotypes per dataset")
    parser.add_argument("--out", type=Path, default=Path("experiments/quality"))
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where quality.md and quality.png go")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="run seeds (the table shows the first)")
    parser.add_argument("--random-seed", type=int, default=0, help="seed of the random genotype draws")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every run, e.g. mode.weight=0.3")
    parser.add_argument("--space", choices=["cells", "chain"], default="cells", help="the search space of the searched rows")
    args = parser.parse_args()
    first = args.seeds[0]
    out, extra, suffix = args.out, args.set, ""
    if args.space == "chain":
        out, extra, suffix = args.out / "chain", ["space=chain", *args.set], "_chain"
    results = {name: {seed: study(name, out, args.random, extra, seed, args.random_seed, seed == first, args.out)
                      for seed in args.seeds} for name in args.datasets}
    (out / "quality.json").write_text(json.dumps(results, indent=2))
    text = table(results)
    write_figure(args.figures / f"quality{suffix}.md", text)
    plot(results, args.figures / f"quality{suffix}.png")
    print(text)


if __name__ == "__main__":
    main()
