"""DDP on CPU (``trainer=ddp_sim``: 2 processes, gloo): each rank trains on its own shard, the
ranks end with identical alphas, and only rank 0 writes the run's files."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from nas_lightning.data.datamodule import EpochBatchSampler

from conftest import read_report


def _shard_worker(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    sampler = EpochBatchSampler(n=50, batch_size=8, seed=3)
    seen = {}
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        seen[epoch] = list(sampler)
    Path(out, f"rank{rank}.json").write_text(json.dumps({"len": len(sampler), "batches": seen}))
    dist.destroy_process_group()


def test_each_rank_gets_a_disjoint_equal_shard_that_changes_per_epoch(tmp_path):
    mp.spawn(_shard_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["len"] == r1["len"] == 3 == len(r0["batches"]["0"]) == len(r1["batches"]["0"])  # 25 per rank, 8 a batch
    for epoch in ("0", "1"):
        a = {i for b in r0["batches"][epoch] for i in b}
        b = {i for b in r1["batches"][epoch] for i in b}
        assert not a & b and len(a) == len(b) == 24
    assert r0["batches"]["0"] != r0["batches"]["1"]


@pytest.mark.slow  # two processes, a whole run: about a minute
def test_ddp_sim_search_and_retrain_keep_ranks_in_step_and_rank0_writes(tmp_path):
    run_dir = tmp_path / "run"
    args = ["preset=s", "preset.init_channels=4", "search.epochs=2", "train.epochs=80", "data.samples_per_class=40", "trainer=ddp_sim"]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nas_lightning", *args, f"hydra.run.dir={run_dir}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    out, err = proc.communicate(timeout=300)
    print(f"ddp_sim search+retrain+export: {time.perf_counter() - started:.1f} s")
    assert proc.returncode == 0, err[-3000:]
    report = read_report(run_dir)
    assert report["search"]["world_size"] == 2
    assert report["search"]["rank_alpha_max_diff"] == 0.0  # alphas gathered from both ranks are identical
    assert out.count("nas-lightning: preset=") == 1  # one summary: rank 1 neither reports nor prints
    # TensorBoard event files carry the writer's pid: all come from the launched process, rank 0
    event_files = list((run_dir / "tb").rglob("events.out.tfevents.*"))
    assert event_files and all(f".{proc.pid}." in f.name for f in event_files)
    assert [p.name for p in (run_dir / "checkpoints" / "search").iterdir()] == ["last.ckpt"]
    written = {p.name for p in run_dir.iterdir()}
    assert {"genotype.json", "model.onnx", "model_int8.onnx", "confusion_matrix.png"} <= written
