"""int8 methods and the per-tensor account: every power-of-two method keeps the NPU scheme, each does
what it claims against the plain rounded-up scales, the chooser prefers accuracy, and the SQNR table
finds a deliberately mis-scaled tensor."""

import random

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from nas_lightning.export.graph_stats import run_onnx
from nas_lightning.export.onnx_graph import export_float, to_onnx_layout
from nas_lightning.export.pow2 import ceil_weight_scales, fake_quant, read_scales, round_scales_to_pow2
from nas_lightning.export.pow2_calibration import METHODS, activation_tensors, bias_shifts, mse_weight_scales
from nas_lightning.export.quantize import choose_variant, quantize_variants
from nas_lightning.export.sensitivity import layer_sensitivity, quant_points
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.network import FixedNet

from conftest import perturb_batch_norms
from test_cost import random_genotype


def _heavy_tailed(n: int, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 48, generator=g)
    x[torch.rand(x.shape, generator=g) < 0.01] *= 12  # rare peaks: the case rounding the range up serves badly
    return to_onnx_layout(x, True)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    torch.manual_seed(0)
    net = perturb_batch_norms(FixedNet(random_genotype(4, 4, random.Random(2)),
                                       NetShape(MacroSpec(3, 4, 4, 3, 4), 3, 48, 4))).eval()
    path = tmp_path_factory.mktemp("methods") / "m.onnx"
    export_float(net, path, 17, {}, variables_as_width=True)
    calibration = [_heavy_tailed(16, s) for s in range(4)]
    variants, float_model = quantize_variants(path, calibration, True, 99.9, METHODS)
    return variants, float_model, calibration


def _divergence(model: onnx.ModelProto, float_model: onnx.ModelProto, x: np.ndarray) -> float:
    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p, q = softmax(run_onnx(float_model.SerializeToString(), x)), softmax(run_onnx(model.SerializeToString(), x))
    return float((p * (np.log(p + 1e-12) - np.log(q + 1e-12))).sum(1).mean())


def test_every_method_keeps_the_npu_scheme(quantized):
    variants, _, _ = quantized
    assert list(variants) == list(METHODS)
    for name, model in variants.items():
        scales = read_scales(model)
        assert scales["all_pow2"] and not scales["bias_over_24_bit"], name
        onnx.checker.check_model(model, full_check=True)


def test_output_method_fits_the_float_predictions_at_least_as_well_as_rounding_up(quantized):
    variants, float_model, calibration = quantized
    x = np.concatenate(calibration)
    assert _divergence(variants["output"], float_model, x) <= _divergence(variants["ceil"], float_model, x)


def test_mse_weight_scales_never_lose_to_rounding_up_and_win_on_an_outlier():
    w = np.random.default_rng(0).normal(size=(8, 30)).astype(np.float32)
    w[0, 0] = 1.01 * 127 / 16  # just past a power of two: rounding up halves the resolution of the other 29
    def error(scales):
        return ((w - fake_quant(w, scales[:, None])) ** 2).sum(1)

    ceil, mse = ceil_weight_scales(w), mse_weight_scales(w)
    assert np.all(error(mse) <= error(ceil)) and error(mse)[0] < 0.5 * error(ceil)[0]
    assert np.all(np.log2(mse) == np.round(np.log2(mse)))


@pytest.mark.filterwarnings("ignore:.*legacy TorchScript-based ONNX export")
def test_bias_correction_equals_the_mean_shift_the_rounded_weights_add(tmp_path):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 5, (3, 1), padding=(1, 0)), nn.ReLU(), nn.Conv2d(5, 2, (3, 1), padding=(1, 0)))
    torch.onnx.export(net, (torch.zeros(1, 3, 256, 1),), str(tmp_path / "c.onnx"), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}})
    x = np.random.default_rng(0).normal(1.0, 1.0, size=(32, 3, 256, 1)).astype(np.float32)  # a non-zero mean
    variants, float_model = quantize_variants(tmp_path / "c.onnx", [x], True, 99.9, ("ceil",))
    shifts = bias_shifts(variants["ceil"], float_model, [x], ceil_weight_scales)
    first = next(n for n in float_model.graph.node if n.op_type == "Conv")
    w = onnx.numpy_helper.to_array(next(i for i in float_model.graph.initializer if i.name == first.input[1]))
    scales = ceil_weight_scales(w.reshape(len(w), -1)).reshape(-1, 1, 1, 1)
    error = torch.from_numpy(fake_quant(w, scales) - w)
    shift = torch.nn.functional.conv2d(torch.from_numpy(x), error, padding=(1, 0)).mean((0, 2, 3)).numpy()
    np.testing.assert_allclose(shifts[first.name], shift, rtol=0.05, atol=1e-4)  # edges: zero padding


def test_sqnr_table_names_a_mis_scaled_tensor_lowest(quantized):
    variants, float_model, calibration = quantized
    tensors = activation_tensors(variants["ceil"], float_model)
    points = {p.tensor: p for p in quant_points(variants["ceil"], float_model)}
    target_scale = list(tensors)[len(tensors) // 2]
    # the same rounded-up scales, except one 256x too coarse: that tensor keeps a level or two
    ceil_scales = {s: float(points[t].scale) for s, t in tensors.items()}
    raw = onnx.ModelProto()
    raw.CopyFrom(variants["ceil"])
    round_scales_to_pow2(raw, float_model, {**ceil_scales, target_scale: ceil_scales[target_scale] * 256})
    x = np.concatenate(calibration)
    rows = layer_sensitivity(raw, float_model, x, np.zeros(len(x), dtype=np.int64))
    assert len(rows) == len(points) and {r["kind"] for r in rows} == {"input", "activation", "weight"}
    worst = min(rows, key=lambda r: np.inf if r["sqnr_db"] is None else r["sqnr_db"])
    assert worst["tensor"] == tensors[target_scale]
    assert all(0 <= r["agreement_alone"] <= 1 for r in rows)


def test_chooser_prefers_accuracy_and_breaks_ties_by_order(quantized):
    variants, float_model, calibration = quantized
    x = np.concatenate(calibration)
    y = run_onnx(variants["ceil"].SerializeToString(), x).argmax(1)  # labels the ceil variant gets all right
    favoured = int(np.argmin(np.bincount(y, minlength=4)))  # a class at most a quarter of y holds
    broken = onnx.ModelProto()
    broken.CopyFrom(variants["ceil"])
    gemm = next(n for n in broken.graph.node if n.op_type == "Gemm")
    bias_dq = next(n for n in broken.graph.node if gemm.input[2] in n.output)
    bias = next(i for i in broken.graph.initializer if i.name == bias_dq.input[0])
    values = onnx.numpy_helper.to_array(bias).copy()
    values[favoured] += 2 ** 20  # the int8 graph now answers that class whatever the input
    bias.CopyFrom(onnx.numpy_helper.from_array(values, bias.name))
    best, tried = choose_variant({"broken": broken, "ceil": variants["ceil"]}, float_model, x, y)
    assert best == "ceil" and tried["ceil"]["acc"] == 1.0 and tried["broken"]["acc"] <= 0.25
    twice, _ = choose_variant({"a": variants["ceil"], "b": variants["ceil"]}, float_model, x, y)
    assert twice == "a"


def test_input_scale_of_the_data_grid_holds_for_every_method(tmp_path):
    torch.manual_seed(0)
    net = FixedNet(random_genotype(4, 4, random.Random(3)), NetShape(MacroSpec(3, 4, 4, 3, 4), 3, 48, 4)).eval()
    path = tmp_path / "m.onnx"
    export_float(net, path, 17, {}, variables_as_width=True)
    scale = 2.0 ** -6  # finer than the calibrated range of these peaks would round up to
    calibration = [np.clip(np.round(_heavy_tailed(16, s) / scale), -127, 127) * scale for s in range(2)]
    variants, float_model = quantize_variants(path, calibration, True, 99.9, METHODS, input_scale=scale)
    for name, model in variants.items():
        scales = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
        inputs = [s for s, t in activation_tensors(model, float_model).items() if t == "input"]
        assert len(inputs) == 1 and float(scales[inputs[0]]) == scale, name
        assert read_scales(model)["all_pow2"], name
        x = calibration[0]  # on the grid: the int8 input is exact, so the first conv sees float's input
        points = [p for p in quant_points(model, float_model) if p.kind == "input"]
        assert np.array_equal(np.clip(np.round(x / points[0].scale), -127, 127) * points[0].scale, x)
