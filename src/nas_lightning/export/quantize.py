"""int8 ONNX by static post-training quantization with onnxruntime (QDQ, per-channel weights).

``quant_pre_process`` runs shape inference and graph optimisation first (it folds any BatchNorm
left next to a Conv, which onnxruntime could not quantize on its own); activations are calibrated
on training batches, given to onnxruntime as one batch (its histogram calibrators need equal shapes).

Activation ranges come from the ``percentile`` of |x| (default 99.9), not the maximum: one rare
peak in one tensor sets a max range, and rounding that range up to a power of two on NPU devices
then leaves ordinary values a handful of levels (BasicMotions' searched network: int8 77.5 % with
``calibration=minmax``, 100 % with the percentile, float 100 %).

``pow2=True`` (NPU devices) quantizes symmetrically (zero points 0) and then sets every scale to a
power of two (``pow2.py``; which one: ``pow2_calibration.py``); otherwise activations are asymmetric,
the onnxruntime default.
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

from ..atomic_files import write_atomically
from ..errors import UserInputError
from .graph_stats import run_onnx
from .onnx_graph import INPUT
from .pow2 import round_scales_to_pow2
from .pow2_calibration import activation_tensors, scale_plans


class BatchReader(CalibrationDataReader):
    def __init__(self, batches: list[np.ndarray]):
        self.batches = iter(batches)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {INPUT: batch}


def quantize_variants(float_path: Path, calibration: list[np.ndarray], pow2: bool = False,
                      percentile: float | None = 99.9, methods: tuple[str, ...] = ("ceil",),
                      input_scale: float | None = None,
                      keep_float: tuple[str, ...] = ()) -> tuple[dict[str, onnx.ModelProto], onnx.ModelProto]:
    """(The int8 graph of each power-of-two scale method (``pow2_calibration.py``), from one onnxruntime
    calibration, or without ``pow2`` the one graph onnxruntime wrote, under "onnxruntime"; the prepared
    float graph they were quantized from, whose names they share).
    ``percentile=None`` calibrates on the maximum (onnxruntime's MinMax). ``input_scale`` (power-of-two only):
    the input's scale whatever the method, that of the grid the data were snapped to (``data.input_grid``).
    ``keep_float`` (not ``pow2``: an NPU graph runs whole on the NPU): nodes of the prepared graph left in float
    (onnxruntime's ``nodes_to_exclude``), named as in report.json's per-tensor table without ``_output_0``."""
    options = {"ActivationSymmetric": True, "WeightSymmetric": True} if pow2 else {}
    method = CalibrationMethod.MinMax
    if percentile is not None:
        method, options["CalibPercentile"] = CalibrationMethod.Percentile, percentile
    with tempfile.TemporaryDirectory() as tmp:
        prepared, written = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(float_path), str(prepared))
        check_node_names(onnx.load(str(prepared)), keep_float)
        with contextlib.redirect_stdout(io.StringIO()):  # its histogram calibrators print progress lines
            quantize_static(
                str(prepared), str(written), BatchReader([np.concatenate(calibration)]), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=method, extra_options=options, nodes_to_exclude=list(keep_float),
            )
        model, float_model = onnx.load(str(written)), onnx.load(str(prepared))
    if not pow2:
        return {"onnxruntime": model}, float_model
    variants = {}
    fixed = {} if input_scale is None else dict.fromkeys(
        (s for s, t in activation_tensors(model, float_model).items() if t == INPUT), input_scale)
    for name, plan in scale_plans(methods, model, float_model, calibration).items():
        plan = {**plan, "activation_scales": {**(plan.get("activation_scales") or {}), **fixed}}
        variants[name] = onnx.ModelProto()
        variants[name].CopyFrom(model)
        round_scales_to_pow2(variants[name], float_model, **plan)
    return variants, float_model


def check_node_names(graph: onnx.ModelProto, names: tuple[str, ...]) -> None:
    """``quant.float_layers`` must name nodes of the graph being quantized (``quant_pre_process``'s output)."""
    nodes = [n.name for n in graph.graph.node]
    unknown = [name for name in names if name not in nodes]
    if unknown:
        layers = [n.name for n in graph.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
        raise UserInputError(f"quant.float_layers: {', '.join(unknown)} is not a node of the exported graph; its "
                             f"Conv/Gemm nodes are {', '.join(layers)}")


def save_int8(model: onnx.ModelProto, path: Path, metadata: dict[str, str]) -> None:
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    write_atomically(path, model.SerializeToString())


def quantize_int8(float_path: Path, int8_path: Path, calibration: list[np.ndarray], metadata: dict[str, str],
                  pow2: bool = False, percentile: float | None = 99.9, method: str = "ceil") -> None:
    """One method's int8 file."""
    variants, _ = quantize_variants(float_path, calibration, pow2, percentile, (method,))
    save_int8(next(iter(variants.values())), int8_path, metadata)


def choose_variant(variants: dict[str, onnx.ModelProto], float_model: onnx.ModelProto, x: np.ndarray,
                   y: np.ndarray) -> tuple[str, dict]:
    """(The variant with the best accuracy on ``x``, then the best agreement with the float graph's
    predictions; earlier, simpler names win ties), and each one's figures. Not the least logit error:
    on a small archive ``x`` holds the calibration batches, which the error-fitted methods fit."""
    float_logits = run_onnx(float_model.SerializeToString(), x)
    tried = {}
    for name, model in variants.items():
        logits = run_onnx(model.SerializeToString(), x)
        tried[name] = {"acc": float((logits.argmax(1) == y).mean()),
                       "agreement": float((logits.argmax(1) == float_logits.argmax(1)).mean()),
                       "logit_rmse": float(np.sqrt(((logits - float_logits) ** 2).mean()))}
    best = max(tried, key=lambda n: (tried[n]["acc"], tried[n]["agreement"]))
    return best, tried
