"""int8 ONNX by static post-training quantization with onnxruntime (QDQ, per-channel weights).

``quant_pre_process`` runs shape inference and graph optimisation first (it folds any BatchNorm
left next to a Conv, which onnxruntime could not quantize on its own); activations are calibrated
on training batches, given to onnxruntime as one batch (its histogram calibrators need equal shapes).

Activation ranges come from the ``percentile`` of |x| (default 99.9), not the maximum: one rare
peak in one tensor sets a max range, and rounding that range up to a power of two on NPU devices
then leaves ordinary values a handful of levels (BasicMotions' searched network: int8 77.5 % with
``calibration=minmax``, 100 % with the percentile, float 100 %).

``pow2=True`` (NPU devices) quantizes symmetrically (zero points 0) and then rounds every scale to a
power of two (see ``pow2.py``); otherwise activations are asymmetric, the onnxruntime default.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quant_pre_process, quantize_static)

from .onnx_graph import INPUT
from .pow2 import round_scales_to_pow2


class BatchReader(CalibrationDataReader):
    def __init__(self, batches: list[np.ndarray]):
        self.batches = iter(batches)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {INPUT: batch}


def quantize_int8(float_path: Path, int8_path: Path, calibration: list[np.ndarray], metadata: dict[str, str],
                  pow2: bool = False, percentile: float | None = 99.9) -> None:
    """``percentile=None`` calibrates on the maximum (onnxruntime's MinMax)."""
    options = {"ActivationSymmetric": True, "WeightSymmetric": True} if pow2 else {}
    method = CalibrationMethod.MinMax
    if percentile is not None:
        method, options["CalibPercentile"] = CalibrationMethod.Percentile, percentile
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared))
        with contextlib.redirect_stdout(io.StringIO()):  # its histogram calibrators print progress lines
            quantize_static(
                str(prepared), str(int8_path), BatchReader([np.concatenate(calibration)]), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=method, extra_options=options,
            )
        model = onnx.load(str(int8_path))
        if pow2:
            round_scales_to_pow2(model, onnx.load(str(prepared)))
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(int8_path))
