"""TI NPU layer rules, checked on an exported ONNX graph (float or QDQ int8; Q/DQ nodes are seen through).

Rules (TI NPU guidelines, ../shared/DEVICES.md), each violation named by node and rule:

* first conv: 1 input channel, output channels a multiple of 4, kernel width <= 8;
* other convs: input and output channels multiples of 4, kernel height <= 7, strides (1,1), (2,1), (2,2);
  grouped convs only depthwise (groups = input channels) with kernel <= 7; dilation 1 (TI's conv rules
  list kernels, strides and groups and no dilation: a dilated conv is not taken to run on the NPU);
* MaxPool kernel <= 4x4; average pooling only global, over H x W > 2;
* fully connected (Gemm/MatMul): >= 16 input features (8-bit);
* supported layers: Conv, Pool, FC, BN, ReLU. Add and Concat are not in TI's list: reported as
  warnings, not failures. Flatten/Reshape/Identity and Q/DQ are layout or quantization plumbing.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import shape_inference

CHANNEL_MULTIPLE = 4
SUPPORTED = {"Conv", "MaxPool", "GlobalAveragePool", "Gemm", "MatMul", "BatchNormalization", "Relu"}
PLUMBING = {"Flatten", "Reshape", "Identity", "QuantizeLinear", "DequantizeLinear"}
WARN_ONLY = {"Add", "Concat"}
STRIDES = {(1, 1), (2, 1), (2, 2)}


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def check_npu_rules(model: onnx.ModelProto) -> dict:
    """{"violations": [{"node", "rule", "detail"}], "warnings": [...], "checked_nodes": n}."""
    model = shape_inference.infer_shapes(model)
    inits = {i.name: i for i in model.graph.initializer}
    producer = {out: n for n in model.graph.node for out in n.output}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}

    def weight_shape(name: str) -> list[int]:
        while name not in inits:  # through DequantizeLinear (QDQ graphs)
            name = producer[name].input[0]
        return list(inits[name].dims)

    violations, warnings = [], []

    def bad(node, rule: str, detail: str, into=violations) -> None:
        into.append({"node": node.name or node.output[0], "op": node.op_type, "rule": rule, "detail": detail})

    first_conv = True
    checked = 0
    for node in model.graph.node:
        op, a = node.op_type, _attrs(node)
        if op in PLUMBING:
            continue
        checked += 1
        if op in WARN_ONLY:
            bad(node, "not in TI's supported layer list", f"{op} (warning only, per the rules file)", warnings)
        elif op not in SUPPORTED and op != "AveragePool":
            bad(node, "unsupported layer", f"{op} is not Conv, Pool, FC, BN or ReLU")
        if op == "Conv":
            out_c, in_per_group, kh, kw = (weight_shape(node.input[1]) + [1])[:4]
            group = a.get("group", 1)
            in_c = in_per_group * group
            if first_conv:
                first_conv = False
                if in_c != 1:
                    bad(node, "first conv: input channels 1", f"has {in_c}")
                if out_c % CHANNEL_MULTIPLE:
                    bad(node, "first conv: output channels multiple of 4", f"has {out_c}")
                if kw > 8:
                    bad(node, "first conv: kernel width <= 8", f"has {kw}")
                continue
            if group > 1 and group != in_c:
                bad(node, "grouped conv only depthwise", f"groups {group}, input channels {in_c}")
            for label, c in (("input", in_c), ("output", out_c)):
                if c % CHANNEL_MULTIPLE:
                    bad(node, f"conv {label} channels multiple of 4", f"has {c}")
            if kh > 7:
                bad(node, "conv kernel height <= 7", f"has {kh}")
            if group > 1 and max(kh, kw) > 7:
                bad(node, "depthwise kernel <= 7", f"has {kh}x{kw}")
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                bad(node, "conv dilations 1", f"has {tuple(a['dilations'])}")
            strides = tuple(a.get("strides", [1, 1]))
            if strides not in STRIDES:
                bad(node, "conv strides (1,1), (2,1) or (2,2)", f"has {strides}")
        elif op == "MaxPool":
            if any(k > 4 for k in a["kernel_shape"]):
                bad(node, "max pool kernel <= 4x4", f"has {tuple(a['kernel_shape'])}")
        elif op == "AveragePool":
            bad(node, "average pooling only global", f"local kernel {tuple(a['kernel_shape'])}")
        elif op == "GlobalAveragePool":
            hw = int(np.prod(shapes.get(node.input[0], [0, 0, 0, 0])[2:]))
            if hw <= 2:
                bad(node, "global average pool over H x W > 2", f"H x W = {hw}")
        elif op in ("Gemm", "MatMul"):
            w = weight_shape(node.input[1])
            features = w[1] if op == "Gemm" and a.get("transB", 0) else w[0]
            if features < 16:
                bad(node, "fully connected: >= 16 input features", f"has {features}")
    return {"violations": violations, "warnings": warnings, "checked_nodes": checked}

