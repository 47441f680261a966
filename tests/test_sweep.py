"""Sweeps: a real 2-job Hydra multirun through the joblib launcher, then the sweep report
(summary.md, summary.csv, pareto.png) from the runs' report.json files."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from nas_lightning.report import pareto_front, write_report


def test_pareto_front_keeps_only_undominated_points():
    points = [(100, 0.80), (200, 0.90), (150, 0.70), (200, 0.85), (50, 0.60), (100, 0.80)]
    # (150, .70) and (200, .85) are beaten; equal points do not dominate each other
    assert pareto_front(points) == {0, 1, 4, 5}


def test_report_from_a_real_run_and_refusal_of_an_empty_dir(tiny_run, tmp_path):
    (tmp_path / "sweep" / "0_run").mkdir(parents=True)
    shutil.copy(tiny_run / "report.json", tmp_path / "sweep" / "0_run")
    rows = write_report(tmp_path / "sweep")
    assert len(rows) == 1 and rows[0]["pareto_params"] and rows[0]["label"] == "s/Compute"
    for name in ("summary.md", "summary.csv", "pareto.png"):
        assert (tmp_path / "sweep" / name).stat().st_size > 0
    report = json.loads((tiny_run / "report.json").read_text())
    with (tmp_path / "sweep" / "summary.csv").open() as f:
        (row,) = csv.DictReader(f)
    # one cell per value: the device's name (not its whole verdict), and the memory model's flash / SRAM / fit
    assert row["device"] == report["device"]["name"] and row["fits"] == str(report["device"]["ok"])
    assert float(row["flash_kb"]) == round(report["memory"]["flash_kb"], 1) > 0
    assert float(row["sram_kb"]) == round(report["memory"]["sram_kb"], 1) > 0
    empty = subprocess.run([sys.executable, "-m", "nas_lightning.report", str(tmp_path / "sweep" / "0_run" / "x")],
                           capture_output=True, text=True)
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1 and "sweep_dir=" in empty.stderr


@pytest.mark.slow  # a whole CLI run or several: make test-full
def test_joblib_multirun_sweep_and_its_report(tmp_path):
    sweep = tmp_path / "multirun"
    args = ["--multirun", "hydra/launcher=parallel", "preset=s", "mode=Memory,Compute", "search.epochs=1",
            "train.epochs=20", "preset.init_channels=4", "data.samples_per_class=40", f"hydra.sweep.dir={sweep}"]
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "nas_lightning", *args], capture_output=True, text=True,
                         timeout=600, env={**os.environ})
    print(f"2-job joblib sweep: {time.perf_counter() - started:.1f} s")
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(list(sweep.glob("*/report.json"))) == 2  # one run directory per job
    report = subprocess.run([sys.executable, "-m", "nas_lightning.report", str(sweep)], capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["label"] for r in rows) == ["s/Compute", "s/Memory"]
    # two jobs at once on this machine's cores: each job's default thread count is its share
    assert {json.loads(p.read_text())["threads"] for p in sweep.glob("*/report.json")} == {max(1, len(os.sched_getaffinity(0)) // 2)}
    assert (sweep / "pareto.png").stat().st_size > 10_000 and "| s/Memory |" in (sweep / "summary.md").read_text()
