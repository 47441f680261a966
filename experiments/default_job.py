"""The default job (``make run``) as measured figures: its summary, wall time, peak memory, and the
same job on a shared machine.

    python experiments/default_job.py [overrides ...]          # docs/figures/default_job.md
    python experiments/default_job.py --contention             # docs/figures/threads.md

Each run is ``python -m nas_lightning <overrides>`` in a fresh run directory under outputs/figures/.
default_job.md holds the summary the run printed (its summary.txt), the wall time with interpreter
start-up and the peak RSS. ``--contention`` runs the job quiet, then next to one busy-looping process
at the default thread count and at ``threads=1``, and tabulates the three.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from figures import FIGURES, write_figure

BUSY_LOOP = "while True: pass"


def run_job(overrides: list[str], busy: int = 0) -> dict:
    """One CLI run next to ``busy`` competing processes: its report, summary lines, wall s and peak RSS MB."""
    run_dir = Path("outputs/figures") / f"{datetime.datetime.now():%Y%m%d-%H%M%S-%f}"
    competitors = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(busy)]
    try:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nas_lightning", *overrides, f"hydra.run.dir={run_dir}"])
        wall = time.perf_counter() - start
    finally:
        for process in competitors:
            process.kill()
            process.wait()
    if done.returncode not in (0, 3, 4):
        raise SystemExit(f"{run_dir}: the run failed with exit code {done.returncode}")
    summary = [line for line in (run_dir / "summary.txt").read_text().splitlines() if "run directory:" not in line]
    return {"report": json.loads((run_dir / "report.json").read_text()), "summary": summary, "wall": wall,
            "rc": done.returncode, "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def default_job(overrides: list[str]) -> str:
    job = run_job(overrides)
    command = shlex.join(["python", "-m", "nas_lightning", *overrides]) if overrides else "make run"
    return (f"`{command}` printed on a quiet machine (exit code {job['rc']}; progress lines left out):\n\n```\n"
            + "\n".join(job["summary"]) + f"\n```\n\n{job['wall']:.1f} s wall with interpreter start-up, "
            f"{job['peak_mb']:,.0f} MB peak RSS.")


def contention(overrides: list[str]) -> str:
    rows = ["| machine | threads | reported time s | wall s | test acc | deployed params |", "| --- | --- | --- | --- | --- | --- |"]
    for busy, threads in ((0, []), (1, []), (1, ["threads=1"])):
        job = run_job([*overrides, *threads], busy)
        r = job["report"]
        rows.append(f"| {'quiet' if not busy else '1 busy process'} | {threads[0][8:] if threads else 'default (all cores)'} | "
                    f"{r['seconds']['total']:.1f} | {job['wall']:.1f} | {100 * r['train']['test_acc']:.1f} % | "
                    f"{r['model']['params_deployed']:,} |")
    return "The default job quiet, then next to one busy-looping process:\n\n" + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contention", action="store_true", help="quiet vs one busy process, default vs threads=1")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the run (none = the default job)")
    args = parser.parse_args()
    if args.contention:
        write_figure(FIGURES / "threads.md", contention(args.overrides))
    else:
        write_figure(FIGURES / "default_job.md", default_job(args.overrides))


if __name__ == "__main__":
    main()
