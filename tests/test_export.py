"""ONNX export: float graph equals torch, int8 graph is QDQ and runs on (1, C, L, 1), and the
counts in report.json equal counts read independently from model.onnx."""

import random

import numpy as np
import onnx
import pytest
import torch
from omegaconf import OmegaConf

from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.export.graph_stats import conv_gemm_macs, run_onnx, stored_parameters
from nas_lightning.export.onnx_graph import export_float, to_onnx_layout
from nas_lightning.export.quantize import quantize_int8
from nas_lightning.search_space.cost import fixed_net_cost
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.network import FixedNet

from conftest import compose_run_config, perturb_batch_norms, read_report
from test_cost import random_genotype


@pytest.fixture
def trained_like_net():
    torch.manual_seed(0)
    spec = MacroSpec(4, 4, 2, 3, 3)
    net = FixedNet(random_genotype(4, 3, random.Random(3)), NetShape(spec, 2, 50, 4))
    perturb_batch_norms(net)
    return net.eval(), spec


def test_float_onnx_equals_torch_and_counts_match(tmp_path, trained_like_net):
    net, spec = trained_like_net
    export_float(net, tmp_path / "m.onnx", 17, {"k": "v"})
    x = torch.randn(7, 2, 50)
    with torch.no_grad():
        expected = net(x).numpy()
    got = run_onnx(tmp_path / "m.onnx", to_onnx_layout(x))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == ["N", 2, 50, 1]
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)  # folded
    cost = fixed_net_cost(net.genotype, NetShape(spec, 2, 50, 4))
    assert stored_parameters(model) == cost.deployed
    assert conv_gemm_macs(model) == cost.macs
    assert {p.key: p.value for p in model.metadata_props}["k"] == "v"


def test_int8_is_qdq_and_close_to_float(tmp_path, trained_like_net):
    net, _ = trained_like_net
    export_float(net, tmp_path / "m.onnx", 17, {})
    calib = [to_onnx_layout(torch.randn(16, 2, 50)) for _ in range(4)]
    quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", calib, {})
    ops = {n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = to_onnx_layout(torch.randn(32, 2, 50))
    f, q = run_onnx(tmp_path / "m.onnx", x), run_onnx(tmp_path / "q.onnx", x)
    assert np.abs(f - q).max() < 0.1 * np.abs(f).max()  # int8 noise, not a different model


@pytest.mark.parametrize("pow2", [False, True])
def test_percentile_calibration_ignores_a_rare_peak(tmp_path, trained_like_net, pow2):
    """One spike in the calibration data sets a MinMax input range ~25x too wide; the percentile does not."""
    net, _ = trained_like_net
    export_float(net, tmp_path / "m.onnx", 17, {})
    data = torch.randn(256, 2, 50)  # 25,600 values: one peak is 0.004 %, above the 99.99th percentile
    data[0, 0, 0] = 100.0
    calib = [to_onnx_layout(b) for b in data.split(64)]

    def input_scale(percentile):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", calib, {}, pow2=pow2, percentile=percentile)
        model = onnx.load(str(tmp_path / "q.onnx"))
        quantizer = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "input")
        scale = next(i for i in model.graph.initializer if i.name == quantizer.input[1])
        return float(onnx.numpy_helper.to_array(scale))

    assert input_scale(None) > 10 * input_scale(99.99)


def test_cli_run_artifacts(tiny_run):
    for name in ("genotype.json", "model.onnx", "model_int8.onnx", "report.json"):
        assert (tiny_run / name).is_file(), name
    report = read_report(tiny_run)
    graph = onnx.load(str(tiny_run / "model.onnx"))
    assert report["model"]["params_deployed"] == stored_parameters(graph) == report["export"]["onnx_params"]
    assert report["model"]["macs"] == conv_gemm_macs(graph)
    assert report["model"]["params_trained"] == report["train"]["params_trained"]
    c, length = report["data"]["channels"], report["data"]["length"]
    single = np.zeros((1, c, length, 1), dtype=np.float32)
    assert run_onnx(tiny_run / "model_int8.onnx", single).shape == (1, len(report["data"]["classes"]))
    assert report["export"]["float_onnx_max_abs_diff"] <= 1e-4
    # the reported ONNX accuracies, recomputed here on the run's own test split (same overrides, same seed)
    cfg = compose_run_config(list(OmegaConf.load(tiny_run / ".hydra" / "overrides.yaml")))
    x_test, y_test = TimeSeriesDataModule(cfg.data, cfg.seed).tensors["test"]
    for key, name in (("test_acc_onnx_float", "model.onnx"), ("test_acc_onnx_int8", "model_int8.onnx")):
        predicted = run_onnx(tiny_run / name, to_onnx_layout(x_test)).argmax(1)
        assert report["export"][key] == pytest.approx(float((predicted == y_test.numpy()).mean()), abs=1e-9), key
    assert report["export"]["int8_drop"] == pytest.approx(report["export"]["test_acc_onnx_float"] - report["export"]["test_acc_onnx_int8"])
    # the per-tensor account: one row per Conv/Gemm weight and per activation scale, in the summary too
    int8 = onnx.load(str(tiny_run / "model_int8.onnx"))
    layers = report["quant"]["layers"]
    assert report["quant"]["method"] == "onnxruntime" and report["quant"]["judged_on"].startswith("val, ")
    assert sum(r["kind"] == "weight" for r in layers) == sum(n.op_type in ("Conv", "Gemm") for n in int8.graph.node)
    assert sum(r["kind"] != "weight" for r in layers) == len({n.input[1] for n in int8.graph.node
                                                              if n.op_type == "QuantizeLinear"
                                                              and n.input[0] not in {i.name for i in int8.graph.initializer}})
    assert "int8 per tensor, lowest SQNR" in (tiny_run / "summary.txt").read_text()
    assert report["seed"] == cfg.seed and report["config"]["mode"]["name"] == "Compute"
    # device=host exports asymmetric int8: no C sources, and the report says why
    assert not report["export"]["c"]["written"] and "power of two" in report["export"]["c"]["skipped"]
    assert report["device"]["memory_from"] == "memory model estimate"
    assert set(report["seconds"]) >= {"search", "train_and_export", "total"}


def _weight_is_int8(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    producers = {o: n for n in model.graph.node for o in n.output}
    weight = producers.get(node.input[1])
    return weight is not None and weight.op_type == "DequantizeLinear"


def convs_weights(net) -> list[int]:
    return [m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.Conv1d)]


def test_float_layers_stay_float_and_their_cost_is_reported(tmp_path, trained_like_net):
    from nas_lightning.config import QuantConfig
    from nas_lightning.export.quantize import quantize_variants
    from nas_lightning.stages.export import float_layers_cost

    net, _ = trained_like_net
    export_float(net, tmp_path / "m.onnx", 17, {})
    calib = [to_onnx_layout(torch.randn(32, 2, 50))]
    everything = next(iter(quantize_variants(tmp_path / "m.onnx", calib)[0].values()))
    convs = [n for n in everything.graph.node if n.op_type == "Conv"]
    assert len(convs) >= 2 and all(_weight_is_int8(everything, n) for n in convs)
    kept_name = convs[0].name
    variants, _ = quantize_variants(tmp_path / "m.onnx", calib, keep_float=(kept_name,))
    kept = next(iter(variants.values()))
    assert [n.name for n in kept.graph.node if n.op_type == "Conv" and not _weight_is_int8(kept, n)] == [kept_name]
    x, y = calib[0], np.arange(32) % 4
    cost = float_layers_cost(tmp_path / "m.onnx", calib, QuantConfig(float_layers=[kept_name]), kept, 0.5, x, y)
    assert cost["nodes"] == [kept_name] and cost["extra_bytes"] == 3 * convs_weights(net)[0]
    assert cost["acc_judged_all_int8"] == float((run_onnx(everything.SerializeToString(), x).argmax(1) == y).mean())


def test_an_unknown_float_layer_is_refused_naming_the_graphs_layers(tmp_path, trained_like_net):
    from nas_lightning.errors import UserInputError
    from nas_lightning.export.quantize import quantize_variants

    net, _ = trained_like_net
    export_float(net, tmp_path / "m.onnx", 17, {})
    with pytest.raises(UserInputError, match=r"quant.float_layers: /nope is not a node of the exported graph; its "
                                              r"Conv/Gemm nodes are .*Conv"):
        quantize_variants(tmp_path / "m.onnx", [to_onnx_layout(torch.randn(8, 2, 50))], keep_float=("/nope",))


def test_a_misspelt_float_layer_is_refused_before_the_retrain():
    from nas_lightning.errors import UserInputError
    from nas_lightning.search_space.standard import standard_model
    from nas_lightning.stages.export import check_float_layers

    arch, shape = standard_model("cls_1k_npu"), NetShape(MacroSpec(4, 4, 2, 3, 3), 1, 64, 3)
    good = compose_run_config(["device=host", "quant.float_layers=[/layers/layers.1/layers.1.0/Conv]"])
    check_float_layers(good, arch, shape)  # the untrained network's graph names it
    with pytest.raises(UserInputError, match=r"^quant.float_layers: /layers/layers.9/Conv is not a node"):
        check_float_layers(compose_run_config(["device=host", "quant.float_layers=[/layers/layers.9/Conv]"]), arch, shape)
