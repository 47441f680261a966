"""The power-of-two int8 QDQ graph, lowered to integer steps for the C code generator (``c_codegen.py``).

Read from the ONNX file itself (the artifact onnxruntime validated), not from the torch network: every
activation is an int8 tensor ``q`` standing for ``q * 2^e`` (zero point 0), each compute node reads
DequantizeLinear outputs and its result goes through one QuantizeLinear. A step records the integer
inputs, the output exponent and the op's geometry; the C kernels then reproduce exactly what onnxruntime
computes: ``round half to even`` of the exact result, after rounding an accumulator to float32's 24-bit
significand where onnxruntime's QLinear kernels convert it to float (``nl_round24`` in ``c_kernels.c``).

A graph outside this scheme (scales not powers of two, nonzero zero points: the asymmetric export of a
device without an NPU) or with an op the kernels lack raises ``NotLowerable`` with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

COMPUTE = ("Conv", "Gemm", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu", "Add", "Concat")
ALIASES = ("Flatten", "Reshape", "Squeeze", "Unsqueeze")  # shape-only: the int8 buffer is reused


class NotLowerable(ValueError):
    """The graph cannot be run by the integer kernels (the reason is the message)."""


@dataclass
class Step:
    op: str
    inputs: list[int]  # buffer ids
    output: int
    params: dict = field(default_factory=dict)


@dataclass
class Program:
    sizes: list[int]  # int8 elements of each buffer
    steps: list[Step]
    input_buffer: int
    output_buffer: int
    input_exp: int  # input scale = 2^input_exp
    output_exp: int
    input_shape: list[int]  # (C, H, W) of the ONNX input, batch removed
    classes: int
    metadata: dict


def exponent(scale: np.ndarray, what: str) -> np.ndarray:
    """log2 of power-of-two scales, as integers (``NotLowerable`` otherwise)."""
    scale = np.asarray(scale, dtype=np.float64).ravel()
    e = np.round(np.log2(np.where(scale > 0, scale, 1.0)))
    if np.any(scale <= 0) or np.any(2.0 ** e != scale):
        raise NotLowerable(f"{what}: scale is not a power of two (C export needs the NPU's power-of-two int8)")
    return e.astype(np.int64)


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = shape_inference.infer_shapes(model)
    values = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    return {v.name: [d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim][1:]
            for v in values}


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Lowering:
    def __init__(self, model: onnx.ModelProto):
        self.inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.shapes = _shapes(model)
        self.sizes: list[int] = []
        self.steps: list[Step] = []
        self.ints: dict[str, tuple[int, int]] = {}  # int8 tensor name -> (buffer, exponent)
        self.values: dict[str, tuple[int, int]] = {}  # float tensor that is exactly int8 * 2^e -> (buffer, e)
        self.weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # dequantized initializer -> (ints, exps)
        self.pending: dict[str, tuple[onnx.NodeProto, bool]] = {}  # float result of a compute node (+ ReLU)
        self.quantized: dict[tuple[str, int], int] = {}
        self.input_buffer: int | None = None
        self.input_exp = 0

    def buffer(self, name: str) -> int:
        self.sizes.append(int(np.prod(self.shapes[name])))
        return len(self.sizes) - 1

    def zero_point_is_zero(self, node: onnx.NodeProto) -> None:
        if len(node.input) > 2 and node.input[2] and np.any(self.inits[node.input[2]] != 0):
            raise NotLowerable(f"{node.name}: nonzero zero point (C export needs symmetric power-of-two int8)")

    def node(self, n: onnx.NodeProto, graph_input: str) -> None:
        if n.op_type == "QuantizeLinear":
            self.zero_point_is_zero(n)
            e = int(exponent(self.inits[n.input[1]], n.name)[0])
            if n.input[0] == graph_input:
                self.input_exp, self.input_buffer = e, self.buffer(graph_input)
                self.ints[n.output[0]] = (self.input_buffer, e)
            elif n.input[0] in self.pending:
                self.ints[n.output[0]] = (self.lower(n.input[0], e), e)
            elif n.input[0] in self.values:  # re-quantizing an exact value (a shared scale: a copy)
                self.ints[n.output[0]] = (self.rescale(n.input[0], e), e)
            else:
                raise NotLowerable(f"{n.name}: quantizes {n.input[0]!r}, which no supported node computes")
        elif n.op_type == "DequantizeLinear":
            self.zero_point_is_zero(n)
            if n.input[0] in self.inits:
                self.weights[n.output[0]] = (self.inits[n.input[0]], exponent(self.inits[n.input[1]], n.name))
            else:
                self.values[n.output[0]] = self.ints[n.input[0]]
        elif n.op_type in ALIASES and n.input[0] in self.values:
            self.values[n.output[0]] = self.values[n.input[0]]
        elif n.op_type == "Relu" and n.input[0] in self.pending and self.pending[n.input[0]][0].op_type in ("Conv", "Gemm"):
            self.pending[n.output[0]] = (self.pending[n.input[0]][0], True)
        elif n.op_type in COMPUTE:
            self.pending[n.output[0]] = (n, False)
        else:
            raise NotLowerable(f"{n.name}: op {n.op_type} has no C kernel (supported: {', '.join(COMPUTE + ALIASES)})")

    def rescale(self, name: str, e: int) -> int:
        buf, e_in = self.values[name]
        if e == e_in:
            return buf
        return self.step("Rescale", [buf], name, {"shift": e - e_in, "relu": 0})

    def step(self, op: str, inputs: list[int], out_name: str, params: dict) -> int:
        out = self.buffer(out_name)
        self.steps.append(Step(op, inputs, out, params))
        return out

    def lower(self, name: str, e_out: int) -> int:
        if (name, e_out) in self.quantized:
            return self.quantized[(name, e_out)]
        n, relu = self.pending[name]
        try:
            ins = [self.values[i] for i in n.input if i and i not in self.weights]
        except KeyError as missing:
            raise NotLowerable(f"{n.name}: input {missing} is not an int8 tensor") from None
        bufs, exps = [b for b, _ in ins], [e for _, e in ins]
        a, shape_in, shape_out = _attrs(n), self.shapes[n.input[0]], self.shapes[name]
        if n.op_type in ("Conv", "Gemm"):
            params = self.layer(n, a, exps[0], e_out, shape_in, shape_out)
            params["relu"] = int(relu)
        elif n.op_type in ("MaxPool", "AveragePool"):
            params = _pool(n, a, shape_in, shape_out)
            params["shift"] = e_out - exps[0]
        elif n.op_type == "GlobalAveragePool":
            params = _global_pool(shape_in, exps[0], e_out)
        elif n.op_type == "Relu":
            params = {"shift": e_out - exps[0], "relu": 1}
        elif n.op_type == "Add":
            if self.shapes[n.input[0]] != self.shapes[n.input[1]]:
                raise NotLowerable(f"{n.name}: Add with broadcasting has no C kernel")
            params = {"shift_a": e_out - exps[0], "shift_b": e_out - exps[1]}
        else:  # Concat
            axis = a["axis"] % (len(shape_out) + 1) - 1  # without the batch axis
            if axis < 0:
                raise NotLowerable(f"{n.name}: Concat over the batch axis")
            params = {"outer": int(np.prod(shape_out[:axis])),
                      "inner": [int(np.prod(self.shapes[i][axis:])) for i in n.input],
                      "shifts": [e_out - e for e in exps]}
        out = self.step("Rescale" if n.op_type == "Relu" else n.op_type, bufs, name, params)
        self.quantized[(name, e_out)] = out
        return out

    def layer(self, n, a, e_in, e_out, shape_in, shape_out) -> dict:
        w, w_exp = self.weights[n.input[1]]
        w_exp = np.broadcast_to(w_exp, (w.shape[0 if n.op_type == "Conv" or a.get("transB", 0) else 1],))
        if n.op_type == "Gemm":
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                raise NotLowerable(f"{n.name}: Gemm with transA, alpha or beta != 1 has no C kernel")
            w = w if a.get("transB", 0) else w.T
        acc_exp = e_in + w_exp
        bias = np.zeros(w.shape[0], dtype=np.int64)
        if len(n.input) > 2 and n.input[2]:
            b, b_exp = self.weights[n.input[2]]
            # onnxruntime adds the int32 bias to the accumulator: its scale must be input x weight scale
            if np.any(np.broadcast_to(b_exp, acc_exp.shape) != acc_exp):
                raise NotLowerable(f"{n.name}: bias scale differs from input scale x weight scale")
            bias = b.astype(np.int64)
        params = {"weights": np.ascontiguousarray(w, dtype=np.int8), "bias": bias,
                  "shifts": (e_out - acc_exp).astype(np.int64)}
        if n.op_type == "Gemm":
            params.update(k=int(w.shape[1]), n=int(w.shape[0]))
            return params
        kh, kw = w.shape[2], w.shape[3] if w.ndim > 3 else 1
        pads = a.get("pads", [0, 0, 0, 0])
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NotLowerable(f"{n.name}: auto_pad has no C kernel (explicit pads only)")
        params["geometry"] = [shape_in[0], shape_in[1], _w(shape_in), shape_out[0], shape_out[1], _w(shape_out),
                              kh, kw, *a.get("strides", [1, 1]), pads[0], pads[1], *a.get("dilations", [1, 1]),
                              a.get("group", 1)]
        return params


def _w(shape: list[int]) -> int:
    return shape[2] if len(shape) > 2 else 1


def _pool(n: onnx.NodeProto, a: dict, shape_in: list[int], shape_out: list[int]) -> dict:
    if a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotLowerable(f"{n.name}: ceil_mode / auto_pad pooling has no C kernel")
    k = a["kernel_shape"] + [1] * (2 - len(a["kernel_shape"]))
    pads = a.get("pads", [0, 0, 0, 0])
    return {"geometry": [shape_in[0], shape_in[1], _w(shape_in), shape_out[1], _w(shape_out), *k,
                         *a.get("strides", [1, 1]), pads[0], pads[1], *a.get("dilations", [1, 1]),
                         a.get("count_include_pad", 0)]}


def _global_pool(shape_in: list[int], e_in: int, e_out: int) -> dict:
    """onnxruntime's QLinearGlobalAveragePool multiplies the int32 sum by the float32
    ``s_in / (s_out * size)``: that float as mantissa x 2^exp, so the C code rounds where it does."""
    size = int(np.prod(shape_in[1:]))
    scale = np.float32(2.0 ** e_in) / (np.float32(2.0 ** e_out) * np.float32(size))
    mantissa, exp = np.frexp(np.float64(scale))  # scale = mantissa * 2^exp, mantissa in [0.5, 1)
    return {"channels": shape_in[0], "size": size, "mantissa": int(mantissa * 2 ** 24), "exp": int(exp) - 24}


def lower(model: onnx.ModelProto) -> Program:
    """The integer program of a power-of-two QDQ graph (``NotLowerable`` says why not)."""
    graph_input, graph_output = model.graph.input[0].name, model.graph.output[0].name
    low = _Lowering(model)
    for n in model.graph.node:
        low.node(n, graph_input)
    if low.input_buffer is None:
        raise NotLowerable(f"graph input {graph_input!r} is not quantized by a QuantizeLinear")
    if graph_output not in low.values:
        raise NotLowerable(f"graph output {graph_output!r} is not a dequantized int8 tensor")
    out, out_exp = low.values[graph_output]
    metadata = {p.key: p.value for p in model.metadata_props}
    return Program(low.sizes, low.steps, low.input_buffer, out, low.input_exp, out_exp,
                   low.shapes[graph_input], low.sizes[out], metadata)


def normalisation(program: Program) -> tuple[list[float], list[float]]:
    """(mean, std) per channel, as the ONNX metadata records them."""
    info = json.loads(program.metadata.get("preprocessing", "{}")).get("normalisation")
    if not info:
        raise NotLowerable("the ONNX metadata records no normalisation (preprocessing.normalisation)")
    return list(map(float, info["mean"])), list(map(float, info["std"]))
