"""Search-step throughput: samples/s and peak memory of DARTS search per preset.

Runs the real DARTSSearchModule in a real Lightning Trainer on random single-channel inputs
(default: batch 64, length 1,460, first order), each preset in its own process so peak RSS is its
own. Every step is a full bilevel step (the search's weight-only warm-up is off; ``--warmup`` steps are
only left untimed). "samples/s" counts every training sample a step consumes: the weight-half batch plus the
alpha-half batch (2 x batch per step), warm-up steps excluded.

    python experiments/bench_search.py --presets s m l [--space chain] [--unrolled] [--checkpoint] [--batch 64] [--length 1460] [--out FILE]

``--space chain`` times the chain space's supernet (``space=chain``, F28P55's rules) at each preset instead of the cells'.

``--against-ti PATH`` (a tinyml-tensorlab checkout) times TI's own search call beside ours per preset.
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
            profile: bool = False, checkpoint: bool = False, partial: int = 1, space: str = "cells") -> dict:
    import lightning as L
    import torch
    from lightning.pytorch.utilities import CombinedLoader
    from torch.utils.data import DataLoader, TensorDataset

    from nas_lightning.config import register, validate
    from nas_lightning.config_files import compose_config
    from nas_lightning.modules.search import DARTSSearchModule
    from nas_lightning.search_space.layout import MacroSpec, NetShape
    from nas_lightning.search_space.supernet import SuperNet

    register()
    cfg = validate(compose_config([f"preset={preset}", f"search.unrolled={unrolled}", "search.warmup=0", f"space={space}",
                                   f"search.checkpoint={checkpoint}", f"search.partial_channels={partial}"]))
    torch.manual_seed(0)
    n = batch * (steps + warmup)
    half = lambda: DataLoader(TensorDataset(torch.randn(n, 1, length), torch.randint(0, 4, (n,))), batch_size=batch)  # noqa: E731
    loader = CombinedLoader({"weights": half(), "alphas": half()}, mode="max_size_cycle")
    if space == "chain":
        from nas_lightning.devices import Device
        from nas_lightning.search_space.chain_supernet import ChainSuperNet

        net = ChainSuperNet(Device(cfg.device).chain_space(cfg.space, preset, NetShape(None, 1, length, 4)))
    else:
        net = SuperNet(NetShape(MacroSpec.from_config(cfg.preset), 1, length, 4), cfg.search.checkpoint,
                       cfg.search.partial_channels)
    module = DARTSSearchModule(net, cfg.search, 4, total_steps=steps + warmup)

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
        "preset": preset, "space": space, "batch": batch, "length": length, "unrolled": unrolled, "steps": steps,
        "seconds_per_step": round(seconds / steps, 3),
        "samples_per_s": round(2 * batch * steps / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "supernet_params": sum(p.numel() for p in module.supernet.weight_parameters()),
        "threads": torch.get_num_threads(),
    }


TI_NAS = Path("tinyml-modeloptimization/torchmodelopt/tinyml_torchmodelopt/nas")  # inside a tinyml-tensorlab checkout


def measure_ti(checkout: str, preset: str, batch: int, length: int, epochs: int, samples: int) -> dict:
    """TI's own search call (``search_and_get_model``) on random data of the same shape and preset: ``samples``
    training and ``samples`` validation series per epoch, first order, Memory mode; the whole call timed, as
    a user meets it. Its package is imported alone (``nas/`` as a package of its own), nothing of ours runs."""
    import importlib
    import types
    from argparse import Namespace

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from nas_lightning.config import register, validate
    from nas_lightning.config_files import compose_config

    register()
    p = validate(compose_config([f"preset={preset}"])).preset
    package = types.ModuleType("ti_nas")
    package.__path__ = [str(Path(checkout) / TI_NAS)]
    sys.modules["ti_nas"] = package
    search = importlib.import_module("ti_nas.train_cnn_search")
    torch.manual_seed(0)
    loader = lambda: DataLoader(TensorDataset(*(2 * [torch.randn(samples, 1, length, 1)]),  # noqa: E731
                                              torch.randint(0, 4, (samples,))), batch_size=batch)
    args = Namespace(gpu=0, in_channels=1, num_classes=4, nas_init_channels=p.init_channels, nas_layers=p.layers,
                     nas_nodes_per_layer=p.nodes_per_layer, nas_multiplier=p.fanout_concat,
                     nas_stem_multiplier=p.init_channel_multiplier, nas_budget=epochs, nas_optimization_mode="Memory",
                     lr=0.025, momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4, arch_weight_decay=1e-3,
                     grad_clip=5.0, unrolled=False, train_loader=loader(), valid_loader=loader())
    start = time.perf_counter()
    search.search_and_get_model(args)
    seconds = time.perf_counter() - start
    return {"preset": preset, "seconds": round(seconds, 2), "samples_per_s": round(2 * samples * epochs / seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def one_process(*args: str) -> dict:
    """Run this script with ``args`` in a fresh process (so peak RSS is that measurement's own)."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def switches(args) -> str:
    """The memory/speed switches a table was measured with, as text after "first order"."""
    on = [("cells recomputed", args.checkpoint), (f"search.partial_channels={args.partial}", args.partial > 1)]
    return "".join(f", {text}" for text, used in on if used)


def against_ti(args) -> None:
    """Both sides, per preset, the same data shape and sample count: TI's whole search call against ours
    (the real module in a real Trainer, every step timed: ``steps`` = TI's batches, no untimed warm-up)."""
    steps = args.epochs * -(-args.ti_samples // args.batch)
    batch = min(args.batch, args.ti_samples)  # TI's loader gives this many per batch: ours takes the same
    rows = ["| preset | TI samples/s | ours samples/s | ratio | TI peak RSS MB | ours peak RSS MB | ratio |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for preset in args.presets:
        common = ["--batch", str(args.batch), "--length", str(args.length)]
        ti = one_process("--ti-one", preset, "--against-ti", args.against_ti, "--epochs", str(args.epochs),
                         "--ti-samples", str(args.ti_samples), *common)
        ours = one_process("--one", preset, "--steps", str(steps), "--warmup", "0", "--batch", str(batch),
                           "--length", str(args.length), "--partial", str(args.partial),
                           *(["--checkpoint"] if args.checkpoint else []))
        ours_rate = ours["samples_per_s"]
        rows.append(f"| {preset} | {ti['samples_per_s']} | {ours_rate:.1f} | {ours_rate / ti['samples_per_s']:.2f}x | "
                    f"{ti['peak_rss_mb']:,.0f} | {ours['peak_rss_mb']:,.0f} | "
                    f"{ours['peak_rss_mb'] / ti['peak_rss_mb']:.2f}x |")
        print(rows[-1], flush=True)
    text = (f"TI's NAS (`search_and_get_model`, {args.ti_samples} + {args.ti_samples} series per epoch, {args.epochs} "
            f"epochs) against nas-lightning's search step, batches of {batch}, length {args.length:,}, first order"
            f"{switches(args)}:\n\n"
            + "\n".join(rows))
    if args.out:
        write_figure(args.out, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["s", "m", "l"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=1460)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--unrolled", action="store_true")
    parser.add_argument("--checkpoint", action="store_true", help="search.checkpoint=true: recompute cells in backward")
    parser.add_argument("--partial", type=int, default=1, help="search.partial_channels=K: 1/K of channels through the ops")
    parser.add_argument("--space", choices=["cells", "chain"], default="cells", help="the search space to time")
    parser.add_argument("--out", type=Path, help="also write the table as markdown here")
    parser.add_argument("--profile", metavar="PRESET", help="profile one preset's steps: torch ops by total CPU time")
    parser.add_argument("--against-ti", metavar="PATH", help="a tinyml-tensorlab checkout: time TI's NAS beside ours")
    parser.add_argument("--epochs", type=int, default=3, help="--against-ti: TI search epochs")
    parser.add_argument("--ti-samples", type=int, default=50, help="--against-ti: training (and validation) series")
    parser.add_argument("--ti-one", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ti_one:
        print(json.dumps(measure_ti(args.against_ti, args.ti_one, args.batch, args.length, args.epochs, args.ti_samples)))
        return
    if args.against_ti:
        against_ti(args)
        return
    if args.profile:
        measure(args.profile, args.batch, args.length, args.steps, args.warmup, args.unrolled, True, args.checkpoint,
                args.partial, args.space)
        return
    if args.one:
        print(json.dumps(measure(args.one, args.batch, args.length, args.steps, args.warmup, args.unrolled,
                                 checkpoint=args.checkpoint, partial=args.partial, space=args.space)))
        return
    print(f"{'preset':>6} {'s/step':>8} {'samples/s':>10} {'peak RSS MB':>12} {'params':>9}")
    rows = ["| preset | s / step | samples/s | peak RSS MB | supernet params | threads |", "| --- | --- | --- | --- | --- | --- |"]
    for preset in args.presets:
        cmd = [sys.executable, __file__, "--one", preset, "--batch", str(args.batch), "--length", str(args.length),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--partial", str(args.partial),
               "--space", args.space] \
            + (["--unrolled"] if args.unrolled else []) \
            + (["--checkpoint"] if args.checkpoint else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"{preset:>6} {r['seconds_per_step']:>8} {r['samples_per_s']:>10} {r['peak_rss_mb']:>12} {r['supernet_params']:>9}")
        rows.append(f"| {preset} | {r['seconds_per_step']} | {r['samples_per_s']} | {r['peak_rss_mb']:,.0f} | "
                    f"{r['supernet_params']:,} | {r['threads']} |")
    if args.out:
        mode = ("second order" if args.unrolled else "first order") + switches(args) + (", space=chain" if args.space == "chain" else "")
        write_figure(args.out, f"Batch {args.batch}, one variable of length {args.length:,}, {mode}, "
                     f"{args.steps} timed steps after {args.warmup} warm-up steps:\n\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
