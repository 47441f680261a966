"""How the chain search's method choices fare on archives no issue names (design log, "A second search space"):
for each variant (a set of CLI overrides) and archive, one ``space=chain select=none`` run (search, retrain,
test), beside K random chains of the same space retrained alike. Prints one row per run: the searched chain,
its deployed parameters, the supernet's validation accuracy and the retrained test accuracy.

    python experiments/chain_dev.py --datasets ArrowHead ItalyPowerDemand OSULeaf --random 3 \\
        --variant default= --variant w0.1=mode.weight=0.1
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from nas_lightning.search_space.architecture import arch_from_dict
from quality import random_chain, run_product


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ArrowHead", "ItalyPowerDemand", "OSULeaf"])
    parser.add_argument("--variant", action="append", default=[], help="NAME=override,override,... (NAME= for none)")
    parser.add_argument("--random", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=[], help="overrides for every run, e.g. data.length=resample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("experiments/chain_dev"))
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
        rng, accs, params = random.Random(0), [], []
        for i in range(args.random):
            path = args.out / name / f"random_{i}" / "random_genotype.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file():
                path.write_text(json.dumps(random_chain(first, rng)))
            r = run_product(path.parent, [*base, "select=none", "stages=[train,export]", f"genotype={path}"])
            accs.append(r["train"]["test_acc"])
            params.append(r["model"]["params_deployed"])
        if accs:
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            rows.append((name, f"random x{len(accs)}", f"params {min(params):,}-{max(params):,}", round(statistics.mean(params)),
                         None, f"{statistics.mean(accs):.3f} ± {sd:.3f}"))
    print("| dataset | variant | genotype | deployed params | search val acc | test acc |\n| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join("" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)) for v in row) + " |")


if __name__ == "__main__":
    main()
