"""How the chain search's method choices fare on archives no issue names (design log, "A second search space"):
for each variant (a set of CLI overrides) and archive, one ``space=chain select=none`` run (search, retrain,
test), beside K random chains of the same space retrained alike, and (``--matched K``) K random chains drawn
within a factor 1.5 of the first variant's deployed parameters, to compare at equal size. Prints one row per
run: the searched chain, its deployed parameters, the supernet's validation accuracy and the retrained test
accuracy.

    python experiments/chain_dev.py --datasets ArrowHead ItalyPowerDemand OSULeaf --random 3 \\
        --variant default= --variant w0.1=mode.weight=0.1
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
from pathlib import Path

from nas_lightning.search_space.architecture import arch_cost, arch_from_dict
from figures import write_figure
from quality import chain_space_of, random_chain, run_product

SIZE_FACTOR = 1.5  # --matched: "the searched chain's size" within this factor either way


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ArrowHead", "ItalyPowerDemand", "OSULeaf"])
    parser.add_argument("--variant", action="append", default=[], help="NAME=override,override,... (NAME= for none)")
    parser.add_argument("--random", type=int, default=3)
    parser.add_argument("--matched", type=int, default=0, help=f"random chains within {SIZE_FACTOR}x the searched size")
    parser.add_argument("--set", nargs="*", default=[], help="overrides for every run, e.g. data.length=resample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("experiments/chain_dev"))
    parser.add_argument("--figure", type=Path, help="also write the table there (docs/figures/...), under its command")
    parser.add_argument("--note", default="", help="a line written under the command in --figure")
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        base = ["data=aeon", f"data.name={name}", f"seed={args.seed}", "space=chain", *args.set]
        first = None
        for variant in args.variant or ["default="]:
            label, _, sets = variant.partition("=")
            overrides = list(filter(None, sets.split(",")))
            if not any(o.startswith("select=") for o in overrides):  # the searched chain alone, unless the variant selects
                overrides.insert(0, "select=none")
            r = run_product(args.out / name / label, [*base, *overrides])
            first = first or r
            rows.append((name, label, str(arch_from_dict(r["genotype"])),
                         r["model"]["params_deployed"], r.get("search", {}).get("val_acc"), r["train"]["test_acc"]))
        rows += random_rows(args.out / name, "random", args.random, first, base, None)
        rows += random_rows(args.out / name, "matched", args.matched, first, base, first["model"]["params_deployed"])
    table = "\n".join(["| dataset | variant | genotype | deployed params | search val acc | test acc |",
                       "| --- | --- | --- | --- | --- | --- |", *("| " + " | ".join(map(_cell, row)) + " |" for row in rows)])
    print(table)
    if args.figure:  # the note goes under the command line, not into it
        argv = [a for i, a in enumerate(sys.argv) if not a.startswith("--note") and sys.argv[i - 1] != "--note"]
        write_figure(args.figure, f"{args.note}\n\n{table}" if args.note else table, shlex.join(["python", *argv]))


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def random_rows(where: Path, label: str, k: int, first: dict, base: list[str], size: int | None) -> list[tuple]:
    """K random chains of the space of the ``first`` run, retrained alike; with ``size``, only chains whose
    deployed parameters are within a factor ``SIZE_FACTOR`` of it (rejection sampling)."""
    rng, accs, params = random.Random(0), [], []
    space = chain_space_of(first) if k else None
    for i in range(k):
        path = where / f"{label}_{i}" / "random_genotype.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:  # drawn even when cached, so that the i-th chain is the same however many ran before
            chain = random_chain(space, rng)
            if size is None or size / SIZE_FACTOR <= arch_cost(chain, space.shape).deployed <= size * SIZE_FACTOR:
                break
        if not path.is_file():
            chain.save(path)
        r = run_product(path.parent, [*base, "select=none", "stages=[train,export]", f"genotype={path}"])
        accs.append(r["train"]["test_acc"])
        params.append(r["model"]["params_deployed"])
    if not accs:
        return []
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    return [(where.name, f"{label} x{len(accs)}", f"params {min(params):,}-{max(params):,}", round(statistics.mean(params)),
             None, f"{statistics.mean(accs):.3f} ± {sd:.3f}")]


if __name__ == "__main__":
    main()
