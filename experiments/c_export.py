"""Does the generated C equal onnxruntime, and what does it take? Each run directory's ``model_int8.onnx``
turned into ``model_c/`` again (in a temporary directory: the runs stay as they are), built with the host's C
compiler, run on the run's raw test split and compared with onnxruntime's int8 logits; its measured arena,
.text and .rodata beside the memory model's SRAM and flash estimates in report.json.

    python experiments/c_export.py experiments/quality/*/seed0/{final,baseline,cls_4k_npu}

Writes ``docs/figures/c_export.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from figures import FIGURES, write_figure
from nas_lightning.config import register, validate
from nas_lightning.config_files import compose_config
from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.data.sources import load_splits
from nas_lightning.export.c_check import check, find_compiler
from nas_lightning.export.c_codegen import write_model_c
from nas_lightning.export.onnx_graph import to_onnx_layout


def measure(run: Path, compiler: str) -> dict:
    cfg = validate(compose_config(list(OmegaConf.load(run / ".hydra" / "overrides.yaml"))))
    report = json.loads((run / "report.json").read_text())
    x_test, y_test = TimeSeriesDataModule(cfg.data, cfg.seed).tensors["test"]
    with tempfile.TemporaryDirectory() as tmp:
        program, plan = write_model_c(run / "model_int8.onnx", Path(tmp))
        c = check(Path(tmp), run / "model_int8.onnx", load_splits(cfg.data, cfg.seed).x_test,
                  to_onnx_layout(x_test, cfg.device.has_npu), y_test.numpy(), program.output_exp, compiler)
    return {"run": f"{cfg.data.name} {report['model']['name']}", "c": c, "arena": plan.arena_bytes,
            "peak": plan.peak_live_bytes, "report": report}


def table(rows: list[dict]) -> str:
    lines = ["| run | test series | bit-exact | C acc / ONNX int8 acc | arena B (peak live) | SRAM estimate B | "
             ".rodata B | flash estimate B | .text B |", "| --- " * 9 + "|"]
    for r in rows:
        c, memory = r["c"], r["report"]["memory"]
        lines.append(f"| {r['run']} | {c['samples_compared']} | {'yes' if c['bit_exact'] else 'NO'} | "
                     f"{c['test_acc_c']:.3f} / {r['report']['export']['test_acc_onnx_int8']:.3f} | "
                     f"{r['arena']} ({r['peak']}) | {memory['sram_bytes']} | {c['sections']['rodata']} | "
                     f"{memory['flash_bytes']} | {c['sections']['text']} |")
    exact = sum(r["c"]["bit_exact"] for r in rows)
    return "\n".join(lines) + (f"\n\nbit-exact on every test series: {exact}/{len(rows)} runs; "
                               f"compiler {rows[0]['c']['compiler']} {rows[0]['c']['cflags']}; .text is host code\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run directories (model_int8.onnx, report.json, .hydra/)")
    parser.add_argument("--out", type=Path, default=FIGURES / "c_export.md")
    args = parser.parse_args()
    compiler = find_compiler()
    if compiler is None:
        raise SystemExit("error: no C compiler ($CC, cc, gcc or clang) on PATH")
    register()
    text = table([measure(run, compiler) for run in args.runs])
    write_figure(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
