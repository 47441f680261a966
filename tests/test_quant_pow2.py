"""Power-of-two int8: every scale read back from the file is a power of two, zero points are 0,
weights and biases are consistent with those scales, and the int8 model stays close to float;
the QAT helpers fold BN exactly and leave weights on the power-of-two grid."""

import random

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from nas_lightning.export.graph_stats import run_onnx
from nas_lightning.export.onnx_graph import export_float, to_onnx_layout
from nas_lightning.export.pow2 import pow2_ceil, read_scales
from nas_lightning.export.qat import fold_batch_norms, qat_finetune
from nas_lightning.export.quantize import quantize_int8
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.network import FixedNet

from conftest import perturb_batch_norms
from test_cost import random_genotype


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    net = FixedNet(random_genotype(4, 4, random.Random(2)), NetShape(MacroSpec(3, 4, 4, 3, 4), 3, 48, 4))
    return perturb_batch_norms(net).eval()


@pytest.fixture(scope="module")
def quantized(net, tmp_path_factory):
    d = tmp_path_factory.mktemp("pow2")
    export_float(net, d / "m.onnx", 17, {}, variables_as_width=True)
    calib = [to_onnx_layout(torch.randn(16, 3, 48), True) for _ in range(4)]
    quantize_int8(d / "m.onnx", d / "q.onnx", calib, {}, pow2=True)
    quantize_int8(d / "m.onnx", d / "std.onnx", calib, {}, pow2=False)
    return d


def _is_pow2(values: np.ndarray) -> bool:
    exponents = np.log2(values.astype(np.float64))
    return bool(np.all(values > 0) and np.all(exponents == np.round(exponents)))


def test_every_scale_is_a_power_of_two_and_consistent(quantized):
    model = onnx.load(str(quantized / "q.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert len(qdq) > 20
    for n in qdq:
        assert _is_pow2(inits[n.input[1]]), n.input[1]
        assert not np.any(inits[n.input[2]]), n.input[2]
    layers = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    for layer in layers:
        x_scale = inits[producer[layer.input[0]].input[1]]
        w_dq, b_dq = producer[layer.input[1]], producer[layer.input[2]]
        w_scale, w = inits[w_dq.input[1]], inits[w_dq.input[0]]
        assert w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 127
        assert np.abs(w.astype(int)).reshape(len(w), -1).max(1).min() >= 64 or w.size < 4  # range used: ceil, not worse
        np.testing.assert_array_equal(inits[b_dq.input[1]], (x_scale * w_scale).astype(np.float32))
    assert read_scales(model)["all_pow2"] and read_scales(model)["scale_values"] > len(qdq) // 2


def test_pow2_int8_close_to_float_and_standard_qdq_is_not_pow2(quantized):
    x = to_onnx_layout(torch.randn(64, 3, 48), True)
    f, q = run_onnx(quantized / "m.onnx", x), run_onnx(quantized / "q.onnx", x)
    assert np.abs(f - q).max() < 0.15 * np.abs(f).max()
    assert not read_scales(onnx.load(str(quantized / "std.onnx")))["all_pow2"]


def test_pow2_ceil():
    np.testing.assert_array_equal(pow2_ceil(np.array([0.3, 0.25, 1.0, 3.0, 0.0])), [0.5, 0.25, 1.0, 4.0, 1.0])


def test_fold_batch_norms_keeps_outputs(net):
    folded = FixedNet(net.genotype, net.shape)
    folded.load_state_dict(net.state_dict())
    fold_batch_norms(folded.eval())
    x = torch.randn(8, 3, 48)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), atol=1e-4, rtol=1e-4)


def test_qat_leaves_weights_on_the_pow2_grid(net):
    torch.manual_seed(1)
    x, y = torch.randn(64, 3, 48), torch.randint(0, 4, (64,))
    tuned, info = qat_finetune(net, (x, y), steps=5, lr=0.01, pow2=True, batch_size=32)
    assert info["steps"] == 5 and (64 * info["fit_acc_fake_quant_after"]) % 1 == pytest.approx(0)  # k of 64 samples
    changed = [not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), net.state_dict().values())]
    assert any(changed)
    for m in tuned.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            w = m.weight.detach().flatten(1)
            scale = torch.from_numpy(pow2_ceil((w.abs().max(1).values / 127).numpy())).unsqueeze(1)
            torch.testing.assert_close(w / scale, torch.round(w / scale), atol=1e-4, rtol=0)
