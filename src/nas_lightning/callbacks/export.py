"""Export callback: after testing the retrained network, write model.onnx and model_int8.onnx,
check them (onnx.checker, float ONNX equal to torch, both run in onnxruntime) and measure test
accuracy of both with onnxruntime. Results land in ``self.results`` for report.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L
import numpy as np
import onnx
import torch

from ..export.graph_stats import conv_gemm_macs, run_onnx, stored_parameters
from ..export.onnx_graph import export_float, to_onnx_layout
from ..export.quantize import quantize_int8


class OnnxExportCallback(L.Callback):
    def __init__(self, out_dir: Path, datamodule, opset: int, calibration_batches: int, tolerance: float, metadata: dict):
        self.out_dir, self.dm = Path(out_dir), datamodule
        self.opset, self.calibration_batches, self.tolerance = opset, calibration_batches, tolerance
        self.metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
        self.results: dict = {}

    def on_test_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        float_path, int8_path = self.out_dir / "model.onnx", self.out_dir / "model_int8.onnx"
        net = pl_module.net
        twin = export_float(net, float_path, self.opset, self.metadata)

        x_test, y_test = self.dm.tensors["test"]
        x_onnx = to_onnx_layout(x_test)
        float_logits = run_onnx(float_path, x_onnx)
        with torch.no_grad():
            torch_logits = twin(torch.from_numpy(x_onnx)).numpy()
        max_diff = float(np.abs(float_logits - torch_logits).max())
        if max_diff > self.tolerance:
            raise RuntimeError(f"float ONNX differs from torch by {max_diff:.2e} > export.tolerance={self.tolerance}")

        calibration = [to_onnx_layout(b) for b in self.dm.calibration_batches(self.calibration_batches)]
        quantize_int8(float_path, int8_path, calibration, self.metadata)
        int8_logits = run_onnx(int8_path, x_onnx)

        y = y_test.numpy()
        graph = onnx.load(str(float_path))
        self.results = {
            "float_onnx_max_abs_diff": max_diff,
            "test_acc_onnx_float": float((float_logits.argmax(1) == y).mean()),
            "test_acc_onnx_int8": float((int8_logits.argmax(1) == y).mean()),
            "onnx_params": stored_parameters(graph),
            "onnx_macs": conv_gemm_macs(graph),
            "model_onnx_bytes": os.path.getsize(float_path),
            "model_int8_onnx_bytes": os.path.getsize(int8_path),
        }
