"""Power-of-two scales for TI's NPU ("quantization: 2"), and the check that reads them back.

onnxruntime has no power-of-two option, so the QDQ graph it writes (symmetric, per-channel int8
weights, per-tensor int8 activations, zero points 0) is rewritten in place:

* activation scales are rounded UP to a power of two (no calibrated value is clipped; at most one
  bit of resolution is lost), or set to the power of two that ``pow2_calibration.py`` chose;
* weights are re-quantized per output channel from the float weights of the prepared model with
  scale 2^ceil(log2(max|w| / 127)), or a per-channel rule given;
* biases are re-quantized to int32 with scale = input scale x weight scale (a power of two again),
  so integer kernels can requantize with shifts only.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

BIAS_BITS = 24  # the NPU's bias width


def pow2_ceil(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 2.0 ** np.ceil(np.log2(np.where(x > 0, x, 1.0))), 1.0).astype(np.float32)


def _channel_view(w: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)


def fake_quant(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``x`` on the symmetric int8 grid of ``scale`` (broadcast), back in float."""
    return np.clip(np.round(x / scale), -127, 127) * scale


def qdq(x: np.ndarray, scale: float, zero_point: int = 0) -> np.ndarray:
    """ONNX QuantizeLinear then DequantizeLinear to int8 (round half to even, saturating): an activation."""
    return (np.clip(np.round(x / scale) + zero_point, -128, 127) - zero_point) * scale


def ceil_weight_scales(w: np.ndarray) -> np.ndarray:
    """One scale per row of ``w`` (output channels x the rest): the smallest power of two that clips nothing."""
    return pow2_ceil(np.abs(w).max(1) / 127.0)


def channel_axis(weight_dequantizer: onnx.NodeProto) -> int:
    return next((a.i for a in weight_dequantizer.attribute if a.name == "axis"), 1)


def quantize_weight(w: np.ndarray, axis: int, weight_scales=ceil_weight_scales) -> tuple[np.ndarray, np.ndarray]:
    """(int8 values, one scale per channel along ``axis``) of the float weight ``w``."""
    scale = weight_scales(_channel_view(w, axis))
    shape = [1] * w.ndim
    shape[axis] = -1
    return np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8), scale


def round_scales_to_pow2(model: onnx.ModelProto, float_model: onnx.ModelProto, activation_scales: dict | None = None,
                         weight_scales=ceil_weight_scales, bias_shift: dict | None = None) -> None:
    """Rewrite ``model`` (ORT's symmetric QDQ output of ``float_model``) to power-of-two scales, in
    place. Each Conv/Gemm is matched to its float twin by node name (ORT keeps those; it renames
    shared biases and graph outputs), which gives the float weights and biases to re-quantize.
    By default every scale is rounded up; ``activation_scales`` (scale initializer name -> scale),
    ``weight_scales`` (per-channel rule) and ``bias_shift`` (layer name -> the float bias correction)
    come from ``pow2_calibration.py``."""
    inits = {i.name: i for i in model.graph.initializer}
    floats = {i.name: numpy_helper.to_array(i) for i in float_model.graph.initializer}
    float_layers = {n.name: n for n in float_model.graph.node if n.op_type in ("Conv", "Gemm")}
    producer = {out: n for n in model.graph.node for out in n.output}

    def get(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name])

    def put(name: str, value: np.ndarray) -> None:
        inits[name].CopyFrom(numpy_helper.from_array(value, name))

    def dequantizer(name: str) -> onnx.NodeProto:
        node = producer.get(name)
        if node is None or node.op_type != "DequantizeLinear":
            raise RuntimeError(f"{name!r} is not quantized in onnxruntime's QDQ output")
        return node

    for n in model.graph.node:  # activations first: bias scales depend on them
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in inits:
            chosen = (activation_scales or {}).get(n.input[1])
            put(n.input[1], pow2_ceil(get(n.input[1])) if chosen is None else np.float32(chosen).reshape(get(n.input[1]).shape))
    for layer in model.graph.node:
        if layer.op_type not in ("Conv", "Gemm"):
            continue
        ref = float_layers[layer.name]
        w_dq, w = dequantizer(layer.input[1]), floats[ref.input[1]]
        q, scale = quantize_weight(w, channel_axis(w_dq), weight_scales)
        put(w_dq.input[0], q)
        put(w_dq.input[1], scale.reshape(get(w_dq.input[1]).shape))
        if len(layer.input) > 2 and layer.input[2]:
            b_dq, b = dequantizer(layer.input[2]), floats[ref.input[2]] - (bias_shift or {}).get(layer.name, 0.0)
            b_scale = (get(dequantizer(layer.input[0]).input[1]) * scale).astype(np.float32)
            put(b_dq.input[0], np.round(b / b_scale).astype(np.int32))
            put(b_dq.input[1], b_scale.reshape(get(b_dq.input[1]).shape))


def is_pow2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x > 0) & (np.log2(np.where(x > 0, x, 1.0)) % 1 == 0)


def read_scales(model: onnx.ModelProto) -> dict:
    """Every scale and zero point of every Q/DQ node, read back from the graph: counts and the
    names of those that break the NPU scheme (scale not a power of two, zero point not 0, bias wider
    than 24 bits)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    names, non_pow2, nonzero_zp, wide_bias = set(), [], [], []
    for n in model.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") or n.input[1] in names:
            continue
        names.add(n.input[1])
        if not is_pow2(inits[n.input[1]]).all():
            non_pow2.append(n.input[1])
        if len(n.input) > 2 and np.any(inits[n.input[2]] != 0):
            nonzero_zp.append(n.input[2])
        q = inits.get(n.input[0])
        if q is not None and q.dtype == np.int32 and np.abs(q.astype(np.int64)).max(initial=0) >= 2 ** (BIAS_BITS - 1):
            wide_bias.append(n.input[0])
    values = np.concatenate([inits[s].ravel() for s in sorted(names)]) if names else np.zeros(0)
    return {"scale_tensors": len(names), "scale_values": int(values.size), "non_pow2": non_pow2,
            "nonzero_zero_points": nonzero_zp, "bias_over_24_bit": wide_bias,
            "all_pow2": not non_pow2 and not nonzero_zp}
