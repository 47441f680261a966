"""A small sweep and its Pareto report as README figures (make figures-sweep).

    python experiments/sweep_figure.py [--dir multirun/readme]

Runs the README's sweep commands: searched networks at presets s, m and l in both modes, and the
hand-designed baseline at three widths, all on the default synthetic data and device with shortened
budgets (``SHORT``), 2 jobs at a time; then ``python -m nas_lightning.report`` over both. Copies its
summary.md to docs/figures/sweep.md (under the commands' provenance line) and pareto.png to
docs/figures/pareto.png.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from figures import FIGURES, write_figure

SHORT = ["search.steps=100", "train.steps=400"]
PARALLEL = ["--multirun", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "threads=1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("multirun/readme"), help="sweep directory (replaced)")
    parser.add_argument("--report-only", action="store_true", help="keep the sweep in --dir, redo its report")
    args = parser.parse_args()
    if not args.report_only:
        shutil.rmtree(args.dir, ignore_errors=True)
    sweeps = [
        [*PARALLEL, "preset=s,m,l", "mode=Memory,Compute", *SHORT, f"hydra.sweep.dir={args.dir}/nas"],
        [*PARALLEL, "model=baseline", "model.width=4,8,16", "train.steps=400", f"hydra.sweep.dir={args.dir}/baseline"],
    ]
    commands = []
    for overrides in sweeps:
        cmd = [sys.executable, "-m", "nas_lightning", *overrides]
        commands.append(shlex.join(["python", "-m", "nas_lightning", *overrides]))
        print("$", commands[-1], flush=True)
        if not args.report_only:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "nas_lightning.report", str(args.dir)], check=True)
    shutil.copyfile(args.dir / "pareto.png", FIGURES / "pareto.png")
    command = " && ".join(commands + [f"python -m nas_lightning.report {args.dir}"])
    write_figure(FIGURES / "sweep.md", (args.dir / "summary.md").read_text(), command=command)


if __name__ == "__main__":
    main()
