"""NPU rule checker: each rule catches a small ONNX graph that breaks it; a network exported for the
NPU (through the real export and pow2 quantization) passes; Add/Concat are warnings only."""

import random

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from nas_lightning.export.npu_rules import check_npu_rules
from nas_lightning.export.onnx_graph import export_float, to_onnx_layout
from nas_lightning.export.quantize import quantize_int8
from nas_lightning.search_space.genotype import Genotype
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.network import FixedNet

from test_cost import random_genotype


class Chain:
    """A straight ONNX graph, one node after another, input (1, C, H, W)."""

    def __init__(self, c: int = 1, h: int = 32, w: int = 1):
        self.nodes, self.inits, self.last, self.shape = [], [], "x", (1, c, h, w)

    def add(self, op: str, inputs: tuple = (), **attrs) -> "Chain":
        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, [self.last, *inputs], [out], name=f"{op}_{len(self.nodes)}", **attrs))
        self.last = out
        return self

    def conv(self, c_in: int, c_out: int, kh: int = 3, kw: int = 1, stride=(1, 1), group: int = 1,
             dilation: int = 1) -> "Chain":
        name = f"w{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.zeros((c_out, c_in // group, kh, kw), np.float32), name))
        return self.add("Conv", (name,), kernel_shape=[kh, kw], strides=list(stride), group=group,
                        pads=[dilation * (kh // 2), 0, dilation * (kh // 2), 0], dilations=[dilation, 1])

    def gemm(self, features: int, out: int = 4) -> "Chain":
        name = f"w{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.zeros((out, features), np.float32), name))
        return self.add("Flatten").add("Gemm", (name,), transB=1)

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
                                  [helper.make_tensor_value_info(self.last, TensorProto.FLOAT, None)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def good(extra=lambda c: c) -> Chain:
    """Valid prefix: first conv 1 -> 8 channels, (3, 1) kernel, then whatever ``extra`` adds."""
    return extra(Chain().conv(1, 8).add("Relu"))


def rules(chain: Chain) -> list[str]:
    return [v["rule"] for v in check_npu_rules(chain.model())["violations"]]


def test_valid_chain_passes():
    chain = good(lambda c: c.conv(8, 16, 7, stride=(2, 1)).add("MaxPool", kernel_shape=[4, 1], strides=[2, 1])
                 .conv(16, 16, 3, group=16).add("GlobalAveragePool").gemm(16))
    assert rules(chain) == []


BROKEN = [
    ("first conv: input channels 1", lambda: Chain(c=3).conv(3, 8)),
    ("first conv: output channels multiple of 4", lambda: Chain().conv(1, 6)),
    ("first conv: kernel width <= 8", lambda: Chain(w=9).conv(1, 8, 3, 9)),
    ("conv input channels multiple of 4", lambda: Chain().conv(1, 6).conv(6, 8)),
    ("conv output channels multiple of 4", lambda: good(lambda c: c.conv(8, 10))),
    ("conv kernel height <= 7", lambda: good(lambda c: c.conv(8, 8, 9))),
    ("conv strides (1,1), (2,1) or (2,2)", lambda: good(lambda c: c.conv(8, 8, 3, stride=(3, 1)))),
    ("grouped conv only depthwise", lambda: good(lambda c: c.conv(8, 8, 3, group=2))),
    ("conv dilations 1", lambda: good(lambda c: c.conv(8, 8, 3, dilation=2))),
    ("max pool kernel <= 4x4", lambda: good(lambda c: c.add("MaxPool", kernel_shape=[5, 1], strides=[1, 1]))),
    ("average pooling only global", lambda: good(lambda c: c.add("AveragePool", kernel_shape=[3, 1], strides=[1, 1]))),
    ("global average pool over H x W > 2", lambda: Chain(h=2).conv(1, 8).add("GlobalAveragePool")),
    ("fully connected: >= 16 input features", lambda: good(lambda c: c.add("GlobalAveragePool").gemm(8))),
    ("unsupported layer", lambda: good(lambda c: c.add("Sigmoid"))),
]


@pytest.mark.parametrize("rule, build", BROKEN, ids=[r for r, _ in BROKEN])
def test_each_rule_catches_its_violation(rule, build):
    found = check_npu_rules(build().model())["violations"]
    assert rule in [v["rule"] for v in found], found
    assert all(v["node"] and v["detail"] for v in found)


def test_add_and_concat_are_warnings_not_violations():
    chain = good(lambda c: c.add("Add", ("t1",)).add("Concat", ("t1",), axis=1))
    report = check_npu_rules(chain.model())
    assert report["violations"] == []
    assert [w["op"] for w in report["warnings"]] == ["Add", "Concat"]


def _net(genotype: Genotype, in_channels: int = 3) -> FixedNet:
    torch.manual_seed(0)
    return FixedNet(genotype, NetShape(MacroSpec(3, 4, 4, 3, 4), in_channels, 48, 4)).eval()


def test_exported_npu_network_passes_through_qdq(tmp_path):
    g = random_genotype(4, 4, random.Random(5))
    g = Genotype.from_dict({**g.__dict__, **{t: [["max_pool_3x1" if op == "avg_pool_3x1" else op, s]
                                                 for op, s in g.cell(t)[0]] for t in ("normal", "reduce")}})
    export_float(_net(g), tmp_path / "m.onnx", 17, {}, variables_as_width=True)
    quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", [to_onnx_layout(torch.randn(8, 3, 48), True)], {}, pow2=True)
    for name in ("m.onnx", "q.onnx"):
        report = check_npu_rules(onnx.load(str(tmp_path / name)))
        assert report["violations"] == [] and {w["op"] for w in report["warnings"]} == {"Concat"}


def test_real_export_violations_are_named(tmp_path):
    """Standard layout with 3 variables breaks the first-conv rule; a local average pool is caught."""
    cell = [["avg_pool_3x1", 0], ["conv_bn_relu_3x1", 1], ["skip_connect", 0], ["max_pool_3x1", 2]]
    g = Genotype.from_dict({"normal": cell, "reduce": cell, "normal_concat": [1, 2, 3, 4], "reduce_concat": [1, 2, 3, 4]})
    export_float(_net(g), tmp_path / "m.onnx", 17, {})
    found = check_npu_rules(onnx.load(str(tmp_path / "m.onnx")))["violations"]
    assert {v["rule"] for v in found} == {"first conv: input channels 1", "average pooling only global"}
    assert sum(v["rule"] == "average pooling only global" for v in found) == 3  # one per cell
    assert all("AveragePool" in v["node"] for v in found if v["rule"] == "average pooling only global")
