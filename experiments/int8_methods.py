"""Which int8 method wins where? Each run directory's float ``model.onnx`` quantized again with every
power-of-two method (``quant.method``), on the run's own calibration batches: each variant's accuracy on
the data the tool judges on (train+val, or the held-out val split), the one ``quant.method=auto`` picks
there, and, after the fact, each variant's test accuracy beside the float graph's. The test column is
never used to choose; it shows whether the choice made without it holds.

    python experiments/int8_methods.py experiments/quality/*/seed0/{final,baseline,cls_4k_npu}

Writes ``docs/figures/int8_methods.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf

from figures import FIGURES, write_figure
from nas_lightning.config import QuantConfig, register, validate
from nas_lightning.config_files import compose_config
from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.data.splits import snap_to_scale
from nas_lightning.export.graph_stats import run_onnx
from nas_lightning.export.onnx_graph import to_onnx_layout
from nas_lightning.export.quantize import choose_variant
from nas_lightning.stages.export import int8_variants, judge_data


def measure(run: Path) -> dict:
    report = json.loads((run / "report.json").read_text())
    # the data as the run trained on them: on the input grid it recorded (none before data.input_grid existed)
    cfg = validate(compose_config([*OmegaConf.load(run / ".hydra" / "overrides.yaml"), "data.input_grid=null",
                                   "quant.method=auto"]))
    npu, grid = cfg.device.has_npu, report["data"].get("input_grid")
    data = TimeSeriesDataModule(cfg.data, cfg.seed)
    if grid:
        data = TimeSeriesDataModule(cfg.data, cfg.seed, "train", snap_to_scale(data.splits, grid["scale"]))
    data = data.with_phase(cfg.train.fit_on)
    calibration = [to_onnx_layout(b, npu) for b in data.calibration_batches(cfg.export.calibration_batches)]
    variants, float_model = int8_variants(run / "model.onnx", calibration, cfg.quant, npu, data.splits.info.get("input_grid"))
    x, y, judged_on = judge_data(data, npu)
    chosen, tried = choose_variant(variants, float_model, x, y)
    x_test, y_test = data.tensors["test"]
    x_test, y_test = to_onnx_layout(x_test, npu), y_test.numpy()
    def test(model) -> float:
        return float((run_onnx(model.SerializeToString(), x_test).argmax(1) == y_test).mean())

    return {"run": f"{cfg.data.name} {report['model']['name']} seed {cfg.seed}", "judged_on": judged_on,
            "float": test(float_model), "chosen": chosen,
            "methods": {m: {"judge": tried[m]["acc"], "test": test(v)} for m, v in variants.items()}}


def table(rows: list[dict]) -> str:
    methods = list(rows[0]["methods"])
    lines = ["| run | judged on | float test | " + " | ".join(f"{m}: judge / test" for m in methods) + " | auto picks | "
             "int8 - float (test) |", "| --- " * (len(methods) + 5) + "|"]
    for r in rows:
        cells = [f"{'**' if m == r['chosen'] else ''}{f['judge']:.3f} / {f['test']:.3f}{'**' if m == r['chosen'] else ''}"
                 for m, f in r["methods"].items()]
        drop = r["methods"][r["chosen"]]["test"] - r["float"]
        lines.append(f"| {r['run']} | {r['judged_on']} | {r['float']:.3f} | " + " | ".join(cells) +
                     f" | {r['chosen']} | {100 * drop:+.1f} pt |")
    def held(pick) -> str:
        return f"{sum(r['methods'][pick(r)]['test'] >= r['float'] - 0.01 for r in rows)}/{len(rows)}"

    default = QuantConfig().method
    return "\n".join(lines) + (f"\n\nint8 within 1 point of float on the test split: auto's pick {held(lambda r: r['chosen'])} "
                               f"runs, {default} (the default) {held(lambda r: default)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run directories (model.onnx, report.json, .hydra/)")
    parser.add_argument("--out", type=Path, default=FIGURES / "int8_methods.md")
    args = parser.parse_args()
    register()
    rows = [measure(run) for run in args.runs]
    text = table(rows)
    write_figure(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
