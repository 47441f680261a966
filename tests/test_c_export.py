"""C export (export/c_*.py): model_c/ built with the system C compiler (strict warnings, then ASan+UBSan)
gives onnxruntime's int8 logits bit for bit on every sample, for a cell network holding every op of the
search space, a TI standard chain in the NPU layout and the FCN baseline; no heap function is
referenced; without a compiler the sources are still written and the report says why."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.export.c_check import CFLAGS, build, find_compiler, heap_symbols, ort_int8_logits, run_harness
from nas_lightning.export.c_codegen import write_model_c
from nas_lightning.export.c_lower import NotLowerable
from nas_lightning.export.onnx_graph import export_float, to_onnx_layout
from nas_lightning.export.quantize import quantize_int8
from nas_lightning.search_space.architecture import build_net
from nas_lightning.search_space.baseline import baseline_genotype, baseline_spec
from nas_lightning.search_space.genotype import Genotype
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.standard import standard_model
from nas_lightning.stages.export import Exported
from nas_lightning.stages.export_c import c_export_stage

from conftest import TINY, compose_run_config, perturb_batch_norms

COMPILER = find_compiler()
needs_cc = pytest.mark.skipif(COMPILER is None, reason="no C compiler ($CC, cc, gcc or clang) on PATH")
SANITIZE = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all"]
EVERY_OP = Genotype(  # avg/max pool, skip, 3/5/7 convs; strided pools, skip and convs in the reduction cells
    normal=[("avg_pool_3x1", 0), ("conv_bn_relu_5x1", 1), ("skip_connect", 0), ("max_pool_3x1", 2)],
    reduce=[("avg_pool_3x1", 0), ("conv_bn_relu_7x1", 0), ("skip_connect", 0), ("max_pool_3x1", 0)],
    normal_concat=[2, 3, 4], reduce_concat=[2, 3, 4])
MODELS = {  # name -> (architecture, spec, channels, length, classes, NPU layout)
    "cells": (EVERY_OP, MacroSpec(4, 4, 2, 3, 3), 2, 50, 4, False),
    "cls_4k_npu": (standard_model("cls_4k_npu"), MacroSpec(3, 4, 1, 3, 4), 3, 64, 3, True),
    "baseline": (baseline_genotype(4), baseline_spec(4), 1, 40, 5, False),
}


def int8_model(tmp_path: Path, name: str) -> tuple[Path, np.ndarray, np.ndarray]:
    """(the power-of-two int8 file of a randomly initialised network, raw samples, their standardised
    ONNX input): raw readings far from zero mean and unit std, so the C standardisation matters."""
    arch, spec, channels, length, classes, npu = MODELS[name]
    torch.manual_seed(0)
    net = perturb_batch_norms(build_net(arch, NetShape(spec, channels, length, classes))).eval()
    rng = np.random.default_rng(0)
    mean, std = rng.uniform(-50, 50, channels), rng.uniform(0.1, 20, channels)
    meta = {"preprocessing": json.dumps({"normalisation": {"mean": mean.tolist(), "std": std.tolist()}}),
            "input_layout": "N,1,L,C" if npu else "N,C,L,1"}
    raw = (mean[:, None] + std[:, None] * rng.standard_normal((96, channels, length)) * 1.5).astype(np.float32)
    x = to_onnx_layout(((raw.astype(np.float64) - mean[:, None]) / std[:, None]).astype(np.float32), npu)
    export_float(net, tmp_path / "model.onnx", 17, meta, variables_as_width=npu)
    quantize_int8(tmp_path / "model.onnx", tmp_path / "model_int8.onnx", [x[:48]], meta, pow2=True)
    return tmp_path / "model_int8.onnx", raw, x


@needs_cc
@pytest.mark.parametrize("name", list(MODELS))
def test_c_logits_equal_onnxruntime_bit_for_bit(tmp_path, name):
    int8, raw, x = int8_model(tmp_path, name)
    program, plan = write_model_c(int8, tmp_path / "model_c")
    ops = {s.op for s in program.steps}
    assert {"Conv", "Gemm"} <= ops and (name != "cells" or {"AveragePool", "MaxPool", "Concat"} <= ops)
    reference = ort_int8_logits(int8, x, program.output_exp)
    for flags, exe in ((CFLAGS, "strict"), (SANITIZE, "sanitized")):
        classes, logits = run_harness(build(tmp_path / "model_c", COMPILER, flags, exe), raw)
        np.testing.assert_array_equal(logits, reference)
        assert (classes == reference.argmax(1)).all()  # the first largest logit, as numpy's argmax
    assert len(np.unique(reference, axis=0)) >= 5  # logits that vary with the input: not matched by luck
    assert heap_symbols(tmp_path / "model_c" / "model.o") == []
    source = (tmp_path / "model_c" / "model.c").read_text()
    assert "#include <stdio.h>" not in source and "#include <stdlib.h>" not in source
    assert plan.peak_live_bytes <= plan.arena_bytes <= sum(program.sizes)


def test_asymmetric_int8_is_refused_with_the_reason(tmp_path):
    int8, _, x = int8_model(tmp_path, "baseline")
    quantize_int8(tmp_path / "model.onnx", tmp_path / "asym.onnx", [x[:48]], {}, pow2=False)
    with pytest.raises(NotLowerable, match="power of two|zero point"):
        write_model_c(tmp_path / "asym.onnx", tmp_path / "model_c")


def test_without_a_compiler_the_sources_are_written_and_the_check_skipped(tmp_path, monkeypatch):
    cfg = compose_run_config([*TINY, "model=cls_1k_npu"])
    data = TimeSeriesDataModule(cfg.data, cfg.seed)
    x = to_onnx_layout(data.tensors["train"][0][:32], False)
    meta = {"preprocessing": json.dumps(data.splits.info)}
    net = build_net(standard_model("cls_1k_npu"), NetShape(MacroSpec(3, 4, 1, 3, 4), data.num_channels,
                                                           data.input_length, data.num_classes)).eval()
    export_float(net, tmp_path / "model.onnx", 17, meta)
    quantize_int8(tmp_path / "model.onnx", tmp_path / "model_int8.onnx", [x], meta, pow2=True)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    exported = Exported(tmp_path / "model.onnx", tmp_path / "model_int8.onnx", False, {}, {})
    info = c_export_stage(cfg, SimpleNamespace(data=data), exported, tmp_path)
    assert info["written"] and info["check"].startswith("skipped: no C compiler")
    assert "bit_exact" not in info and info["arena_bytes"] > 0
    assert {p.name for p in (tmp_path / "model_c").iterdir()} == {"model.h", "model.c", "main.c", "Makefile"}


def test_export_c_refuses_a_non_boolean():
    from nas_lightning.config import ExportConfig
    from nas_lightning.errors import UserInputError

    with pytest.raises(UserInputError, match=r"export\.c=maybe: allowed values are true, false"):
        ExportConfig(c="maybe")
    assert compose_run_config(["export.c=false"]).export.c is False
