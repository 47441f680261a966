"""Build ``model_c/`` with the host's C compiler, run the test split through it and compare with
onnxruntime: report.json's ``export.c`` block.

The harness gets the raw (unstandardised) test series, so the comparison covers the C code's own
standardisation and input quantization too; onnxruntime gets the standardised split the report's int8
accuracy was measured on. Its float logits are int8 values times 2^NL_LOGIT_EXP, compared exactly.
Sizes are ``size -A`` of ``model.o`` (the model without the harness); ``nm -u`` proves no heap function
is referenced. Without a compiler (``$CC``, else cc/gcc/clang) the sources are kept and the block
says why the check was skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .graph_stats import run_onnx

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
HEAP = ("malloc", "calloc", "realloc", "free")
TIMEOUT_S = 600


def find_compiler() -> str | None:
    for name in ([os.environ["CC"]] if os.environ.get("CC") else []) + ["cc", "gcc", "clang"]:
        if path := shutil.which(name):
            return path
    return None


def build(src: Path, compiler: str, flags: list[str] = CFLAGS, exe: str = "nl_model") -> Path:
    """Compiles the harness and ``model.o`` (``subprocess.CalledProcessError`` with the compiler's output)."""
    for args in (["-c", "-o", "model.o", "model.c"], ["-o", exe, "main.c", "model.c"]):
        subprocess.run([compiler, *flags, *args], cwd=src, check=True, capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    return src / exe


def section_sizes(obj: Path) -> dict[str, int] | None:
    """Bytes of .text, .rodata, .data and .bss of an object file (``size -A``), None without ``size``."""
    tool = shutil.which("size")
    if tool is None:
        return None
    out = subprocess.run([tool, "-A", str(obj)], check=True, capture_output=True, text=True).stdout
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            kind = parts[0].lstrip(".").split(".")[0]
            if kind in sizes:
                sizes[kind] += int(parts[1])
    return sizes


def heap_symbols(obj: Path) -> list[str] | None:
    """Heap functions the object file references (``nm -u``), None without ``nm``."""
    tool = shutil.which("nm")
    if tool is None:
        return None
    out = subprocess.run([tool, "-u", str(obj)], check=True, capture_output=True, text=True).stdout
    return sorted({line.split()[-1] for line in out.splitlines() if line.split() and line.split()[-1] in HEAP})


def run_harness(exe: Path, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, int8 logits) the harness prints for raw (N, C, L) float32 samples."""
    data = np.ascontiguousarray(raw, dtype="<f4").tobytes()
    out = subprocess.run([str(exe)], input=data, check=True, capture_output=True, timeout=TIMEOUT_S).stdout
    rows = np.array([line.split() for line in out.decode().splitlines()], dtype=np.int64).reshape(len(raw), -1)
    return rows[:, 0], rows[:, 1:]


def ort_int8_logits(int8_path: Path, x: np.ndarray, logit_exp: int) -> np.ndarray:
    """onnxruntime's int8 logits (its float output divided by the output scale, exact for powers of two)."""
    return np.round(run_onnx(int8_path, x) / 2.0 ** logit_exp).astype(np.int64)


def check(src: Path, int8_path: Path, raw: np.ndarray, x_onnx: np.ndarray, y: np.ndarray, logit_exp: int,
          compiler: str) -> dict:
    """Builds, measures and compares; the figures of report.json's ``export.c`` beyond the plan's."""
    exe = build(src, compiler)
    predicted, logits = run_harness(exe, raw)
    reference = ort_int8_logits(int8_path, x_onnx, logit_exp)
    equal = (logits == reference).all(1)
    return {"compiler": compiler, "cflags": " ".join(CFLAGS), "sections": section_sizes(src / "model.o"),
            "heap_symbols": heap_symbols(src / "model.o"), "samples_compared": int(len(y)),
            "bit_exact": bool(equal.all()), "samples_differing": int((~equal).sum()),
            "test_acc_c": float((predicted == y).mean()),
            "predictions_equal_onnx": bool((predicted == reference.argmax(1)).all())}
