"""The README's "smallest model for a target" figure: one real study on a shipped archive.

    python experiments/target_figure.py [overrides ...]     # default: GunPoint, target.accuracy=0.95

Runs ``python -m nas_lightning data=aeon data.name=GunPoint target.accuracy=0.95 <overrides>`` as a fresh
study (its own run and study directories under outputs/figures/), then writes docs/figures/target.md (the
study's summary, every trial, the wall time) and docs/figures/target_pareto.png.
"""

from __future__ import annotations

import datetime
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from figures import FIGURES, write_figure

DEFAULT = ["data=aeon", "data.name=GunPoint", "target.accuracy=0.95"]


def main() -> None:
    overrides = sys.argv[1:] or DEFAULT
    run_dir = Path("outputs/figures") / f"target_{datetime.datetime.now():%Y%m%d-%H%M%S}"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nas_lightning", *overrides, f"hydra.run.dir={run_dir}",
                           f"target.dir={run_dir / 'study'}"])
    wall = time.perf_counter() - start
    if done.returncode not in (0, 5):
        raise SystemExit(f"{run_dir}: the study failed with exit code {done.returncode}")
    summary = [ln for ln in (run_dir / "summary.txt").read_text().splitlines() if not ln.strip().startswith("files:")]
    if not (run_dir / "pareto.png").is_file():
        raise SystemExit(f"{run_dir}: no trial completed (see trials.md there)")
    shutil.copyfile(run_dir / "pareto.png", FIGURES / "target_pareto.png")
    command = shlex.join(["python", "-m", "nas_lightning", *overrides])
    body = (f"`{command}` printed (exit code {done.returncode}), {wall:.0f} s wall on this machine:\n\n```\n"
            + "\n".join(summary).replace(str((run_dir / "study").resolve()), "<study>").replace(str(run_dir / "study"), "<study>")
            + "\n```\n\nEvery trial "
            "(`trials.md` of the run; validation accuracy on the held-out validation split, never the test split):\n\n"
            + (run_dir / "trials.md").read_text())
    write_figure(FIGURES / "target.md", body)


if __name__ == "__main__":
    main()
