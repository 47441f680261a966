"""Counts read from an ONNX file (independent of the cost model): stored parameters, Conv/Gemm MACs,
and onnxruntime inference for accuracy checks."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper, shape_inference


def stored_parameters(model: onnx.ModelProto) -> int:
    """Number of float values in the initializers (weights and biases)."""
    return sum(
        int(np.prod(init.dims)) for init in model.graph.initializer
        if init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
    )


def conv_gemm_macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates per sample of every Conv and Gemm/MatMul, from inferred output shapes."""
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in
              list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input)}
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = inits[node.input[1]]  # (O, I/groups, kh, kw)
            out = shapes[node.output[0]]
            total += int(np.prod(out[1:])) * int(np.prod(w.shape[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            w = inits[node.input[1]]
            total += int(np.prod(w.shape))
    return total


def ort_session(model) -> ort.InferenceSession:
    """A quiet CPU session of the ONNX model (a path, or the file's bytes)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    model = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run_onnx(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits of the ONNX model (a path, or the file's bytes) on (N, C, L, 1) inputs, in batches."""
    session = ort_session(model)
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)])
