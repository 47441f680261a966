"""Search-step throughput: samples/s and peak memory of DARTS search per preset.

Runs the real DARTSSearchModule in a real Lightning Trainer on random single-channel inputs
(default: batch 64, length 1,460, first order), each preset in its own process so peak RSS is its
own. Every step is a full bilevel step (the search's weight-only warm-up is off; ``--warmup`` steps are
only left untimed). "samples/s" counts every training sample a step consumes: the weight-half batch plus the
alpha-half batch (2 x batch per step), warm-up steps excluded.

    python experiments/bench_search.py --presets s m l [--unrolled] [--batch 64] [--length 1460] [--out FILE]

``--profile m`` instead prints where preset m's steps spend their time (torch ops by total CPU time, through
Lightning's PyTorchProfiler; timings under the profiler are not the benchmark's). ``--out`` writes the table as markdown under its provenance line (``make bench`` writes docs/figures/bench.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from figures import write_figure


def measure(preset: str, batch: int, length: int, steps: int, warmup: int, unrolled: bool,
            profile: bool = False) -> dict:
    import lightning as L
    import torch
    from hydra import compose, initialize_config_dir
    from lightning.pytorch.utilities import CombinedLoader
    from torch.utils.data import DataLoader, TensorDataset

    from nas_lightning.config import CONF_DIR, register, validate
    from nas_lightning.modules.search import DARTSSearchModule
    from nas_lightning.search_space.layout import MacroSpec
    from nas_lightning.search_space.supernet import SuperNet

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = validate(compose("config", [f"preset={preset}", f"search.unrolled={unrolled}", "search.warmup=0"]))
    torch.manual_seed(0)
    n = batch * (steps + warmup)
    half = lambda: DataLoader(TensorDataset(torch.randn(n, 1, length), torch.randint(0, 4, (n,))), batch_size=batch)  # noqa: E731
    loader = CombinedLoader({"weights": half(), "alphas": half()}, mode="max_size_cycle")
    module = DARTSSearchModule(SuperNet(MacroSpec.from_config(cfg.preset.__dict__), 1, length, 4), cfg.search, 4, total_steps=steps + warmup)

    class Clock(L.Callback):
        start = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == warmup:
                self.start = time.perf_counter()

    clock = Clock()
    profiler = None
    if profile:  # Lightning's torch-profiler wrapper; its op table (total CPU time) is printed at the end
        from lightning.pytorch.profilers import PyTorchProfiler

        profiler = PyTorchProfiler(sort_by_key="cpu_time_total", row_limit=25, export_to_chrome=False)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, profiler=profiler,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[clock], limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loader)
    seconds = time.perf_counter() - clock.start
    return {
        "preset": preset, "batch": batch, "length": length, "unrolled": unrolled, "steps": steps,
        "seconds_per_step": round(seconds / steps, 3),
        "samples_per_s": round(2 * batch * steps / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "supernet_params": sum(p.numel() for p in module.supernet.weight_parameters()),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["s", "m", "l"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=1460)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--unrolled", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the table as markdown here")
    parser.add_argument("--profile", metavar="PRESET", help="profile one preset's steps: torch ops by total CPU time")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        measure(args.profile, args.batch, args.length, args.steps, args.warmup, args.unrolled, profile=True)
        return
    if args.one:
        print(json.dumps(measure(args.one, args.batch, args.length, args.steps, args.warmup, args.unrolled)))
        return
    print(f"{'preset':>6} {'s/step':>8} {'samples/s':>10} {'peak RSS MB':>12} {'params':>9}")
    rows = ["| preset | s / step | samples/s | peak RSS MB | supernet params | threads |", "| --- | --- | --- | --- | --- | --- |"]
    for preset in args.presets:
        cmd = [sys.executable, __file__, "--one", preset, "--batch", str(args.batch), "--length", str(args.length),
               "--steps", str(args.steps), "--warmup", str(args.warmup)] + (["--unrolled"] if args.unrolled else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"{preset:>6} {r['seconds_per_step']:>8} {r['samples_per_s']:>10} {r['peak_rss_mb']:>12} {r['supernet_params']:>9}")
        rows.append(f"| {preset} | {r['seconds_per_step']} | {r['samples_per_s']} | {r['peak_rss_mb']:,.0f} | "
                    f"{r['supernet_params']:,} | {r['threads']} |")
    if args.out:
        mode = "second order" if args.unrolled else "first order"
        write_figure(args.out, f"Batch {args.batch}, one variable of length {args.length:,}, {mode}, "
                     f"{args.steps} timed steps after {args.warmup} warm-up steps:\n\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
