"""Export callback: after testing the retrained network, write model.onnx and model_int8.onnx,
check them (onnx.checker, float ONNX equal to torch, both run in onnxruntime) and measure test
accuracy of both with onnxruntime. Results land in ``self.results`` for report.json.

On NPU devices (``npu=True``) the input is (N, 1, L, C), scales are powers of two (read back from
model_int8.onnx) and the int8 graph goes through the NPU rule checker. With ``quant.qat`` a short
quantization-aware fine-tune on the retrain's data follows the post-training export and both
files are written again from the fine-tuned network; the post-training figures are kept under
``ptq``. Whether it runs is a setting, never a test-set decision.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L
import numpy as np
import onnx
import torch

from ..config import QuantConfig
from ..export.graph_stats import conv_gemm_macs, run_onnx, stored_parameters
from ..export.npu_rules import check_npu_rules
from ..export.onnx_graph import export_float, to_onnx_layout
from ..export.pow2 import read_scales
from ..export.qat import qat_finetune
from ..export.quantize import quantize_int8
from ..data.augment import augment, batch_seed


class OnnxExportCallback(L.Callback):
    def __init__(self, out_dir: Path, datamodule, opset: int, calibration_batches: int, tolerance: float, metadata: dict,
                 npu: bool = False, quant: QuantConfig | None = None):
        self.out_dir, self.dm = Path(out_dir), datamodule
        self.opset, self.calibration_batches, self.tolerance = opset, calibration_batches, tolerance
        self.npu, self.quant = npu, quant or QuantConfig()
        metadata = {**metadata, "input_layout": "N,1,L,C" if npu else "N,C,L,1",
                    "quantization": "pow2" if npu else "qdq-int8"}
        self.metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
        self.results: dict = {}

    def _export(self, net) -> dict:
        float_path, int8_path = self.out_dir / "model.onnx", self.out_dir / "model_int8.onnx"
        twin = export_float(net, float_path, self.opset, self.metadata, variables_as_width=self.npu)
        x_test, y_test = self.dm.tensors["test"]
        x_onnx = to_onnx_layout(x_test, self.npu)
        float_logits = run_onnx(float_path, x_onnx)
        with torch.no_grad():
            torch_logits = twin(torch.from_numpy(x_onnx)).numpy()
        max_diff = float(np.abs(float_logits - torch_logits).max())
        # relative to the logits' size (at least 1): folding BN reorders float sums, so deep nets with
        # large logits differ by ~1e-4 of their magnitude without being wrong
        rel_diff = max_diff / max(1.0, float(np.abs(torch_logits).max()))
        if rel_diff > self.tolerance:
            raise RuntimeError(f"float ONNX differs from torch by {rel_diff:.2e} (relative) > export.tolerance={self.tolerance}")

        calibration = [to_onnx_layout(b, self.npu) for b in self.dm.calibration_batches(self.calibration_batches)]
        percentile = self.quant.percentile if self.quant.calibration == "percentile" else None
        quantize_int8(float_path, int8_path, calibration, self.metadata, pow2=self.npu, percentile=percentile)
        int8_logits = run_onnx(int8_path, x_onnx)
        y = y_test.numpy()
        acc_float, acc_int8 = float((float_logits.argmax(1) == y).mean()), float((int8_logits.argmax(1) == y).mean())
        return {"float_onnx_max_abs_diff": max_diff, "float_onnx_max_rel_diff": rel_diff, "test_acc_onnx_float": acc_float, "test_acc_onnx_int8": acc_int8,
                "int8_drop": acc_float - acc_int8}

    def on_test_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        results = self._export(pl_module.net)
        if self.quant.qat:
            q = self.quant
            def augment_batch(x, step):
                return augment(x, pl_module.augment, batch_seed(self.dm.seed, step))

            net, qat = qat_finetune(pl_module.net, trainer.datamodule.fit_tensors(), q.qat_steps, q.qat_lr,
                                    pow2=self.npu, batch_size=self.dm.cfg.batch_size, seed=self.dm.seed,
                                    augment_batch=augment_batch, label_smoothing=pl_module.cfg.label_smoothing)
            results = {**self._export(net), "ptq": results, "qat": qat}
        float_path, int8_path = self.out_dir / "model.onnx", self.out_dir / "model_int8.onnx"
        graph, int8 = onnx.load(str(float_path)), onnx.load(str(int8_path))
        scales = read_scales(int8)
        off_scheme = scales["non_pow2"] + scales["nonzero_zero_points"] + scales["bias_over_24_bit"]
        scheme = ("power-of-two scales: per-channel symmetric int8 weights, per-tensor symmetric int8 activations, "
                  "int32 biases" if self.npu else "onnxruntime QDQ: per-channel symmetric int8 weights, "
                  "per-tensor asymmetric int8 activations, int32 biases")
        self.results = {
            **results,
            "quant": {"scheme": scheme, **{k: len(v) if isinstance(v, list) else v for k, v in scales.items()}},
            "onnx_params": stored_parameters(graph),
            "onnx_macs": conv_gemm_macs(graph),
            "model_onnx_bytes": os.path.getsize(float_path),
            "model_int8_onnx_bytes": os.path.getsize(int8_path),
        }
        if self.npu:
            rules = check_npu_rules(int8)
            rules["violations"] += [{"node": name, "op": "QuantizeLinear/DequantizeLinear", "rule": "NPU quantization",
                                     "detail": "not a power-of-two scale, zero point 0 or 24-bit bias"}
                                    for name in off_scheme]
            self.results["npu_rules"] = rules
