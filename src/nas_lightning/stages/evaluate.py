"""Evaluate stage: the one look at the test split, after every decision is made. The trained network
is tested in torch (accuracy, macro F1, per-class accuracy, confusion matrix) and both ONNX files in
onnxruntime; then memory and the device verdict complete the report."""

from __future__ import annotations

from ..export.graph_stats import run_onnx
from ..export.onnx_graph import to_onnx_layout
from ..devices import Device
from ..search_space.architecture import Architecture, arch_cost, arch_memory
from ..search_space.layout import NetShape
from ..summary import CHANCE_MARGIN
from .export import Exported
from .export_c import measured_memory
from .train import Trained



def test_torch(trained: Trained) -> dict:
    """report.json's "train" block, completed with the test figures."""
    test = trained.trainer.test(trained.module, datamodule=trained.data, verbose=False)[0]
    acc, classes = float(test["test/acc"]), trained.data.num_classes
    return {**trained.info, "test_acc": acc, "learned": acc > 1 / classes + CHANCE_MARGIN, **trained.module.test_report}


def _accuracies(float_model, int8_model, x, y) -> dict:
    acc_float = float((run_onnx(float_model, x).argmax(1) == y).mean())
    acc_int8 = float((run_onnx(int8_model, x).argmax(1) == y).mean())
    return {"test_acc_onnx_float": acc_float, "test_acc_onnx_int8": acc_int8, "int8_drop": acc_float - acc_int8}


def test_onnx(trained: Trained, exported: Exported) -> dict:
    """report.json's "export" block, completed with both files' test accuracies (onnxruntime), and
    those of the post-training files when a quantization-aware fine-tune replaced them."""
    x_test, y_test = trained.data.tensors["test"]
    x, y = to_onnx_layout(x_test, exported.npu), y_test.numpy()
    info = {**exported.info, **_accuracies(exported.float_path, exported.int8_path, x, y)}
    if exported.ptq is not None:
        info["ptq"] = {**info["ptq"], **_accuracies(exported.ptq["float"], exported.ptq["int8"], x, y)}
    return info


def memory_and_fit(device: Device, arch: Architecture, shape: NetShape, npu_rules: dict | None,
                   preset_changes: dict, c: dict | None = None) -> tuple[dict, dict]:
    """(report.json's "memory" block, its "device" block). The verdict judges the C build's measured
    sizes where the C check took them (``export.c``), the memory model's estimate otherwise; a measured
    C block also records the estimate beside its figures."""
    memory = arch_memory(arch, shape)
    judged, source = measured_memory(memory, c)
    if c is not None and c.get("written"):
        c["estimate"] = {"sram_bytes": memory.sram_bytes, "flash_bytes": memory.flash_bytes}
    verdict = {**device.verdict(judged, npu_rules, preset_changes, arch_cost(arch, shape)), "memory_from": source}
    if judged is not memory:
        verdict["measured"] = {"flash_bytes": judged.flash_bytes, "sram_bytes": judged.sram_bytes}
    return memory.as_dict(), verdict
