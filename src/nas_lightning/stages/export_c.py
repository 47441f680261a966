"""C export step (``export.c``, on by default): ``model_c/`` generated from ``model_int8.onnx`` and, where
a C compiler is found, built on the host, run on the test split and compared with onnxruntime's int8
logits: report.json's ``export.c`` block. It runs after the evaluate stage has read the test split (the
same split, in the same single look), and before the device verdict, which then uses the measured
sizes (``measured_memory``).

A graph outside the power-of-two scheme (a device without an NPU exports asymmetric int8) writes no
sources; the block says why. A build or run failure is reported, not raised: the ONNX files stand.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from ..config import RunConfig
from ..data.sources import load_splits
from ..export.c_check import check, find_compiler
from ..export.c_codegen import write_model_c
from ..export.c_lower import NotLowerable
from ..export.onnx_graph import to_onnx_layout
from ..search_space.memory import Memory
from .export import Exported
from .train import Trained

log = logging.getLogger(__name__)
C_DIR = "model_c"


def c_export_stage(cfg: RunConfig, trained: Trained, exported: Exported, out_dir: Path) -> dict:
    """report.json's ``export.c`` block."""
    try:
        program, plan = write_model_c(exported.int8_path, out_dir / C_DIR)
    except NotLowerable as err:
        log.info("C export skipped: %s", err)
        return {"written": False, "skipped": str(err)}
    info = {"written": True, "dir": C_DIR, "steps": len(program.steps), "arena_bytes": plan.arena_bytes,
            "peak_live_bytes": plan.peak_live_bytes}
    compiler = find_compiler()
    if compiler is None:
        info["check"] = "skipped: no C compiler found ($CC, cc, gcc or clang on PATH); the sources are written"
        log.info("C export: %s", info["check"])
        return info
    raw = load_splits(cfg.data, cfg.seed).x_test  # the harness standardises on its own, as a device would
    x_test, y_test = trained.data.tensors["test"]
    try:
        info.update(check(out_dir / C_DIR, exported.int8_path, raw, to_onnx_layout(x_test, exported.npu),
                          y_test.numpy(), program.output_exp, compiler))
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        detail = (getattr(err, "stderr", None) or "").strip().splitlines()
        info["check"] = f"failed: {' '.join(map(str, err.cmd))}: {detail[0] if detail else err}"
        log.warning("C export: %s", info["check"])
        return info
    info["check"] = "done"
    log.info("C export: bit-exact %s on %d test series, C accuracy %.4f, arena %d B", info["bit_exact"],
             info["samples_compared"], info["test_acc_c"], plan.arena_bytes)
    return info


def measured_memory(memory: Memory, c: dict | None) -> tuple[Memory, str]:
    """(the memory the device verdict judges, where it comes from): the host build's sizes when the C
    check measured them (flash: .text + .rodata + .data of model.o; SRAM: its .bss + .data, the arena
    with the int8 input inside), else the memory model's estimate."""
    sections = (c or {}).get("sections")
    if not sections:
        return memory, "memory model estimate"
    flash = sections["text"] + sections["rodata"] + sections["data"]
    sram = sections["bss"] + sections["data"]
    fields = {**memory.__dict__, "flash_bytes": flash, "sram_bytes": sram}
    return Memory(**fields), "measured: host build of model_c/ (size -A model.o)"
