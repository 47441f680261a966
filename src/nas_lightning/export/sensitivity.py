"""Where int8 accuracy goes, tensor by tensor (report.json["quant"]["layers"]).

For every quantized tensor of the int8 graph (the input, each activation scale, each Conv/Gemm weight):
its SQNR in dB, the float tensor against itself on that tensor's int8 grid (its own rounding and
clipping, not the error it inherits), and the accuracy and float agreement of the float graph with only
that tensor quantized. A tensor with a low SQNR whose accuracy alone still drops is the one to fix
(a wider scale, a clipped input, a layer kept in float).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph_stats import run_onnx
from .onnx_graph import INPUT
from .pow2 import channel_axis, qdq
from .pow2_calibration import activation_tensors, float_tensors

BATCH = 256


@dataclass
class QuantPoint:
    tensor: str  # the float graph's name (a weight initializer or an activation)
    kind: str  # input, activation, weight
    layer: str  # the node that makes it (activation) or uses it (weight)
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None  # weights: the channel axis of the scales
    values: np.ndarray | None = None  # weights: the dequantized int8 values


def quant_points(int8: onnx.ModelProto, float_model: onnx.ModelProto) -> list[QuantPoint]:
    """Every tensor the int8 graph quantizes, named as in the float graph, in graph order."""
    inits = {i.name: numpy_helper.to_array(i) for i in int8.graph.initializer}
    makers = {o: n.name or n.op_type for n in float_model.graph.node for o in n.output}
    zero_points = {n.input[1]: inits[n.input[2]] for n in int8.graph.node if n.op_type == "QuantizeLinear"}
    points = [QuantPoint(name, "input" if name == INPUT else "activation", makers.get(name, INPUT), inits[scale],
                         zero_points[scale]) for scale, name in activation_tensors(int8, float_model).items()]
    producer = {out: n for n in int8.graph.node for out in n.output}
    float_layers = {n.name: n for n in float_model.graph.node}
    for layer in int8.graph.node:
        dq = producer.get(layer.input[1]) if layer.op_type in ("Conv", "Gemm") else None
        if dq is None or dq.op_type != "DequantizeLinear":  # not a layer, or one kept in float (quant.float_layers)
            continue
        q, scale, axis = inits[dq.input[0]], inits[dq.input[1]], channel_axis(dq)
        shape = [1] * q.ndim
        shape[axis] = -1
        points.append(QuantPoint(float_layers[layer.name].input[1], "weight", layer.name, scale, inits[dq.input[2]],
                                 axis, (q.astype(np.float32) * scale.reshape(shape)).astype(np.float32)))
    return points


def sqnr_db(signal: float, noise: float) -> float | None:
    """None: exact on its grid (an infinite ratio, which JSON cannot hold)."""
    return None if noise == 0 else round(float(10 * np.log10(max(signal, 1e-30) / noise)), 2)


def with_one_quantized(float_model: onnx.ModelProto, point: QuantPoint) -> bytes:
    """The float graph with only ``point`` on its int8 grid."""
    model = onnx.ModelProto()
    model.CopyFrom(float_model)
    if point.kind == "weight":
        for init in model.graph.initializer:
            if init.name == point.tensor:
                init.CopyFrom(numpy_helper.from_array(point.values.reshape(numpy_helper.to_array(init).shape), init.name))
        return model.SerializeToString()
    t = point.tensor
    model.graph.initializer.extend([numpy_helper.from_array(point.scale.astype(np.float32), f"{t}__scale"),
                                    numpy_helper.from_array(point.zero_point, f"{t}__zero_point")])
    source, target = (t, f"{t}__dq") if point.kind == "input" else (f"{t}__float", t)
    pair = [helper.make_node("QuantizeLinear", [source, f"{t}__scale", f"{t}__zero_point"], [f"{t}__q"]),
            helper.make_node("DequantizeLinear", [f"{t}__q", f"{t}__scale", f"{t}__zero_point"], [target])]
    nodes = list(model.graph.node)
    if point.kind == "input":  # its readers read the quantized copy
        for n in nodes:
            n.input[:] = [target if i == t else i for i in n.input]
        nodes = pair + nodes
    else:  # its maker writes the float value under another name, the pair restores the name
        at = next(k for k, n in enumerate(nodes) if t in n.output)
        nodes[at].output[:] = [source if o == t else o for o in nodes[at].output]
        nodes[at + 1 : at + 1] = pair
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model.SerializeToString()


def layer_sensitivity(int8: onnx.ModelProto, float_model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> list[dict]:
    """One row per quantized tensor: SQNR on ``x``, and accuracy and agreement with the float graph's
    predictions when only that tensor is quantized."""
    points = quant_points(int8, float_model)
    signal, noise = {}, {}
    activations = [p for p in points if p.kind != "weight"]
    batches = (x[i : i + BATCH] for i in range(0, len(x), BATCH))
    for values in float_tensors(float_model, [p.tensor for p in activations], batches):
        for p in activations:
            v = values[p.tensor].astype(np.float64)
            signal[p.tensor] = signal.get(p.tensor, 0.0) + float((v ** 2).sum())
            noise[p.tensor] = noise.get(p.tensor, 0.0) + float(((v - qdq(v, float(p.scale), int(p.zero_point))) ** 2).sum())
    weights = {i.name: numpy_helper.to_array(i) for i in float_model.graph.initializer}
    float_pred = run_onnx(float_model.SerializeToString(), x).argmax(1)
    rows = []
    for p in points:
        if p.kind == "weight":
            w = weights[p.tensor].astype(np.float64)
            signal[p.tensor] = float((w ** 2).sum())
            noise[p.tensor] = float(((w - p.values.reshape(w.shape)) ** 2).sum())
        pred = run_onnx(with_one_quantized(float_model, p), x).argmax(1)
        rows.append({"tensor": p.tensor, "kind": p.kind, "layer": p.layer,
                     "sqnr_db": sqnr_db(signal[p.tensor], noise[p.tensor]),
                     "acc_alone": float((pred == y).mean()), "agreement_alone": float((pred == float_pred).mean())})
    return rows


def tensor_values(int8: onnx.ModelProto, float_model: onnx.ModelProto, x: np.ndarray,
                  tensors: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For TensorBoard histograms of the worst tensors: each named tensor's float values on ``x`` (a weight:
    its float values) and the same values on its int8 grid."""
    points = {p.tensor: p for p in quant_points(int8, float_model) if p.tensor in tensors}
    activations = [t for t, p in points.items() if p.kind != "weight"]
    values = next(float_tensors(float_model, activations, [x])) if activations else {}
    weights = {i.name: numpy_helper.to_array(i) for i in float_model.graph.initializer}
    out = {}
    for t in tensors:
        p = points[t]
        if p.kind == "weight":
            out[t] = (weights[t], p.values.reshape(weights[t].shape))
        else:
            out[t] = (values[t], qdq(values[t], float(p.scale), int(p.zero_point)))
    return out
