"""Power-of-two scales chosen by the error they cause (``quant.method``: ``mse``, ``mse_bias``).

Rounding every scale up to a power of two (``ceil``) never clips, but it can cost one bit, and on a
heavy-tailed tensor the range a rare peak sets leaves ordinary values a handful of levels. ``mse``
tries the power of two above the calibrated range and the few below it, per activation tensor (on the
calibration batches, run through the float graph) and per weight channel, and keeps the one with the
least squared error: MSE calibration restricted to the NPU's scales. ``mse_bias`` also removes the mean
output shift that rounding the weights causes (DFQ's bias correction, Nagel et al. 2019): bias -=
(W_q - W) E[x], with E[x] the per-channel mean of the layer's float input on the calibration batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import onnx
from onnx import numpy_helper

from ..config import POW2_METHODS as METHODS
from .graph_stats import ort_session, run_onnx
from .onnx_graph import INPUT
from .pow2 import (ceil_weight_scales, channel_axis, fake_quant, pow2_ceil, qdq, quantize_weight,
                   round_scales_to_pow2)

SHIFTS = (1, 0, -1, -2, -3)  # activation exponents tried, relative to the calibrated range rounded up
WEIGHT_SHIFTS = (0, 1, 2, 3)  # weight exponents tried below the one that clips nothing


def activation_tensors(int8: onnx.ModelProto, float_model: onnx.ModelProto) -> dict[str, str]:
    """Each activation scale of the QDQ graph -> the float graph's tensor it was calibrated on (its first
    use: a max-pool or flatten after it shares the scale and loses nothing more)."""
    inits = {i.name for i in int8.graph.initializer}
    known = {o for n in float_model.graph.node for o in n.output} | {i.name for i in float_model.graph.input}
    tensors: dict[str, str] = {}
    for n in int8.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in inits and n.input[1] not in tensors:
            name = n.input[0] if n.input[0] in known else n.input[0].removesuffix("_QuantizeLinear_Input")
            if name not in known:
                raise RuntimeError(f"quantized tensor {n.input[0]!r} has no float twin")
            tensors[n.input[1]] = name
    return tensors


def float_tensors(model: onnx.ModelProto, names: Iterable[str], batches: Iterable[np.ndarray]) -> Iterator[dict]:
    """The float graph's values of ``names`` on each batch (the input included)."""
    names = list(dict.fromkeys(names))
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                              for n in names if n not in outputs and n != INPUT)
    session = ort_session(probe.SerializeToString())
    produced = [o.name for o in session.get_outputs()]
    for x in batches:
        values = {INPUT: x, **dict(zip(produced, session.run(None, {INPUT: x})))}
        yield {n: values[n] for n in names}


def mse_activation_scales(int8: onnx.ModelProto, float_model: onnx.ModelProto, batches: list[np.ndarray]) -> dict:
    """Activation scale name -> the power of two (among SHIFTS around the calibrated one) with the least
    squared error on the calibration batches."""
    tensors = activation_tensors(int8, float_model)
    inits = {i.name: numpy_helper.to_array(i) for i in int8.graph.initializer}
    candidates = {s: float(pow2_ceil(inits[s]).max()) * 2.0 ** np.array(SHIFTS) for s in tensors}
    sse = {s: np.zeros(len(SHIFTS)) for s in tensors}
    for values in float_tensors(float_model, tensors.values(), batches):
        for s, name in tensors.items():
            x = values[name].astype(np.float64)
            sse[s] += [((x - qdq(x, c)) ** 2).sum() for c in candidates[s]]
    return {s: float(candidates[s][int(np.argmin(sse[s]))]) for s in tensors}


def mse_weight_scales(w: np.ndarray) -> np.ndarray:
    """Per row of ``w``: the power of two (the one that clips nothing, or up to three below) with the least
    squared error."""
    top = ceil_weight_scales(w)
    errors = np.stack([((w - fake_quant(w, (top / 2.0 ** k)[:, None])) ** 2).sum(1) for k in WEIGHT_SHIFTS])
    return (top / 2.0 ** np.array(WEIGHT_SHIFTS)[errors.argmin(0)]).astype(np.float32)


def bias_shifts(int8: onnx.ModelProto, float_model: onnx.ModelProto, batches: list[np.ndarray],
                weight_scales=mse_weight_scales) -> dict[str, np.ndarray]:
    """Conv/Gemm name -> (W_q - W) E[x] per output channel: the mean shift its rounded weights add."""
    layers = [n for n in float_model.graph.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2]]
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for values in float_tensors(float_model, [n.input[0] for n in layers], batches):
        for n in layers:
            x = values[n.input[0]]
            sums[n.name] = sums.get(n.name, 0.0) + x.sum(tuple(i for i in range(x.ndim) if i != 1), dtype=np.float64)
            counts[n.name] = counts.get(n.name, 0) + x.size // x.shape[1]
    weights = {i.name: numpy_helper.to_array(i) for i in float_model.graph.initializer}
    producer = {out: node for node in int8.graph.node for out in node.output}
    quantized_layers = {n.name: n for n in int8.graph.node if n.op_type in ("Conv", "Gemm")}
    shifts = {}
    for n in layers:
        w, mean = weights[n.input[1]], sums[n.name] / counts[n.name]
        axis = channel_axis(producer[quantized_layers[n.name].input[1]])
        q, scale = quantize_weight(w, axis, weight_scales)
        shape = [1] * w.ndim
        shape[axis] = -1
        error = q * scale.reshape(shape) - w
        if n.op_type == "Gemm":
            shifts[n.name] = error @ mean if axis == 0 else mean @ error
        else:  # (O, I / groups, k, 1): each output channel sees its group's inputs
            groups = next((a.i for a in n.attribute if a.name == "group"), 1)
            per_input = error.reshape(error.shape[0], error.shape[1], -1).sum(2)
            group_means = mean.reshape(groups, -1)[np.arange(error.shape[0]) // (error.shape[0] // groups)]
            shifts[n.name] = (per_input * group_means).sum(1)
    return shifts


def output_activation_scales(int8: onnx.ModelProto, float_model: onnx.ModelProto, batches: list[np.ndarray]) -> dict:
    """Activation scale name -> the power of two (among SHIFTS) that the whole int8 network's output likes
    best: in graph order, each scale in turn takes the candidate with the least KL divergence of the int8
    graph's predictions from the float graph's on the calibration batches, the scales before it fixed."""
    x = np.concatenate(batches)
    target = _softmax(run_onnx(float_model.SerializeToString(), x))
    inits = {i.name: numpy_helper.to_array(i) for i in int8.graph.initializer}
    ceil = {s: float(pow2_ceil(inits[s]).max()) for s in activation_tensors(int8, float_model)}

    def divergence(scales: dict) -> float:
        model = onnx.ModelProto()
        model.CopyFrom(int8)
        round_scales_to_pow2(model, float_model, scales)
        p = _softmax(run_onnx(model.SerializeToString(), x))
        return float((target * (np.log(target + 1e-12) - np.log(p + 1e-12))).sum(1).mean())

    chosen, best = dict(ceil), divergence(ceil)
    for s in ceil:
        for shift in SHIFTS:
            trial = {**chosen, s: ceil[s] * 2.0 ** shift}
            if shift != 0 and (d := divergence(trial)) < best:
                chosen, best = trial, d
    return chosen


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def scale_plans(methods: Iterable[str], int8: onnx.ModelProto, float_model: onnx.ModelProto,
                batches: list[np.ndarray]) -> dict[str, dict]:
    """Each method's keyword arguments for ``round_scales_to_pow2`` (read before it rewrites ``int8``)."""
    methods = list(methods)
    plans: dict[str, dict] = {"ceil": {}} if "ceil" in methods else {}
    if {"mse", "mse_bias"} & set(methods):
        mse = {"activation_scales": mse_activation_scales(int8, float_model, batches), "weight_scales": mse_weight_scales}
        plans.update({"mse": mse} if "mse" in methods else {})
        if "mse_bias" in methods:
            plans["mse_bias"] = {**mse, "bias_shift": bias_shifts(int8, float_model, batches)}
    if "output" in methods:
        plans["output"] = {"activation_scales": output_activation_scales(int8, float_model, batches)}
    return {m: plans[m] for m in methods}
