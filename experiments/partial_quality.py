"""Does partial-channel search (``search.partial_channels=K``) keep the search's quality? The product's
own command per archive with K=1 (every channel through the mixed ops) and each K asked for, same
preset and seed; the table shows what each search found once retrained, tested and exported.

    python experiments/partial_quality.py --preset l --partial 1 4 --datasets GunPoint BasicMotions ACSF1 --out experiments/partial

Every run is a real CLI run in its own directory (``--out``/K<k>/<dataset>, skipped when its report.json
exists, so an interrupted study continues); ``--figure`` (default docs/figures/partial_quality.md) gets
the table under the command's provenance line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from figures import FIGURES, write_figure
from quality import row, run_product


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="l")
    parser.add_argument("--partial", nargs="+", type=int, default=[1, 4], help="the K values to compare")
    parser.add_argument("--datasets", nargs="+", default=["GunPoint", "BasicMotions", "ACSF1"])
    parser.add_argument("--out", type=Path, default=Path("experiments/partial"))
    parser.add_argument("--figure", type=Path, default=FIGURES / "partial_quality.md")
    args = parser.parse_args()
    lines = ["| dataset | K | test acc | int8 acc | deployed params | MACs | search s | whole run s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in args.datasets:
        for k in args.partial:
            report = run_product(args.out / f"K{k}" / name, ["data=aeon", f"data.name={name}", f"preset={args.preset}",
                                                             f"search.partial_channels={k}"])
            r = row(report)
            lines.append(f"| {name} | {k} | {r['acc']:.3f} | {r['int8']:.3f} | {r['params']:,} | {r['macs']:,} | "
                         f"{r['search_s']:.0f} | {r['total_s']:.0f} |")
            print(lines[-1], flush=True)
    write_figure(args.figure, f"preset={args.preset}, seed 0, the same command per archive but for "
                 "`search.partial_channels`:\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
