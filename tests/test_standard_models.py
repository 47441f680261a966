"""TI's standard classifiers as chains (search_space/standard.py, chain.py, chain_net.py): the parameter
counts TI's specs give, an export twin equal to the trained network with the input BN folded, a JSON
record that round-trips and refuses bad files, and ``model=cls_*`` through the whole pipeline."""

import json

import pytest
import torch

from nas_lightning.errors import UserInputError
from nas_lightning.search_space.architecture import arch_cost, arch_from_dict, arch_memory, build_net
from nas_lightning.search_space.chain import Chain
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.standard import STANDARD_MODELS, standard_model

from conftest import TINY, perturb_batch_norms, read_report, run_cli

SPEC = MacroSpec(3, 1, 8, 1, 1)  # unused by chains
# trainable parameters at C=1, K=2, L=512 (TI's specs, the deployable-models issue)
TI_PARAMS = {"cls_500_npu": 532, "cls_1k_npu": 876, "cls_4k_npu": 3692, "cls_13k_npu": 12580, "cls_55k_npu": 52092}


@pytest.mark.parametrize("name", STANDARD_MODELS)
def test_parameter_counts_match_ti_specs(name):
    shape = NetShape(SPEC, 1, 512, 2)
    net = build_net(standard_model(name), shape)
    assert sum(p.numel() for p in net.parameters()) == TI_PARAMS[name]
    assert arch_cost(standard_model(name), shape).params == TI_PARAMS[name]


@pytest.mark.parametrize("channels, length", [(1, 150), (6, 100), (3, 1460)])
def test_cost_and_flash_equal_an_independent_count(channels, length):
    shape = NetShape(SPEC, channels, length, 4)
    for name in STANDARD_MODELS:
        chain = standard_model(name)
        net = build_net(chain, shape)
        twin = net.twin()  # the input BN is folded away; each conv keeps one bias per output channel once BN folds
        deployed = sum(m.weight.numel() + m.out_channels for m in twin.modules() if isinstance(m, torch.nn.Conv2d))
        deployed += twin.classifier.weight.numel() + twin.classifier.bias.numel()
        assert arch_cost(chain, shape).deployed == deployed
        macs, hooks = [0], []
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)):
                hooks.append(m.register_forward_hook(
                    lambda m, i, o: macs.__setitem__(0, macs[0] + m.weight.numel() * (o.shape[-1] if o.dim() == 3 else 1))))
        net.eval()(torch.zeros(1, channels, length))
        assert arch_cost(chain, shape).macs == macs[0]
        assert arch_memory(chain, shape).weights + arch_memory(chain, shape).biases == deployed


@pytest.mark.parametrize("variables_as_width", [False, True])
@pytest.mark.parametrize("name", ["cls_1k_npu", "cls_55k_npu"])
def test_export_twin_equals_the_trained_network(name, variables_as_width):
    torch.manual_seed(0)
    shape = NetShape(SPEC, 3, 200, 4)
    net = perturb_batch_norms(build_net(standard_model(name), shape)).eval()
    x = torch.randn(6, 3, 200)
    twin = net.twin(variables_as_width)
    x2 = x.transpose(1, 2)[:, None] if variables_as_width else x[..., None]
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in twin.modules())
    assert torch.allclose(net(x), twin(x2), atol=1e-4)


def test_gradients_reach_every_parameter():
    shape = NetShape(SPEC, 2, 64, 3)
    for name in STANDARD_MODELS:
        net = build_net(standard_model(name), shape)
        out = net(torch.randn(4, 2, 64))
        assert torch.isfinite(out).all()
        out.sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters()), name


def test_chain_json_round_trips_and_refuses_bad_records():
    chain = standard_model("cls_4k_npu")
    assert arch_from_dict(json.loads(chain.to_json())) == chain
    for bad, message in [
        ({"kind": "chain", "layers": []}, "'layers' must be a non-empty list"),
        ({"kind": "chain", "layers": [{"kind": "lstm", "kernel": 3}]}, "layer 1 must be an object with kind"),
        ({"kind": "chain", "layers": [{"kind": "max_pool", "kernel": 3}]}, "layer 1 must be a conv"),
        ({"kind": "chain", "layers": [{"kind": "conv", "kernel": 3, "out": 0}]}, "a conv's out >= 1"),
        ({"kind": "chain", "layers": [{"kind": "conv", "kernel": 3, "out": 8}], "head": "lstm"}, "head 'lstm'"),
    ]:
        with pytest.raises(UserInputError, match=message):
            Chain.from_dict(bad, "x.json") if bad["layers"] else arch_from_dict(bad, "x.json")


@pytest.mark.slow  # 16 s: make test-full
def test_standard_model_runs_the_whole_pipeline_on_the_npu(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli([*TINY, "model=cls_1k_npu", "data.variables=3"], run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_report(run_dir)
    assert report["model"]["name"] == "cls_1k_npu" and "search" not in report and "select" not in report
    assert report["genotype"]["kind"] == "chain"
    assert report["export"]["onnx_params"] == report["model"]["params_deployed"]
    assert report["device"]["npu"]["violations"] == [] and report["export"]["quant"]["non_pow2"] == 0
    c = report["export"]["c"]  # model_c/ checked against onnxruntime on the whole test split
    assert (run_dir / "model_c" / "model.c").is_file() and c["written"]
    if c["check"] == "done":  # a compiler was found (else test_c_export says the check is skipped)
        assert c["bit_exact"] and c["samples_compared"] == report["data"]["test"] and c["heap_symbols"] == []
        assert c["test_acc_c"] == report["export"]["test_acc_onnx_int8"]
        assert report["device"]["memory_from"].startswith("measured")
        assert c["sections"]["bss"] == c["arena_bytes"] and c["estimate"]["sram_bytes"] == report["memory"]["sram_bytes"]
    # the chosen record trains again from its file
    again = run_cli([*TINY, "stages=[train,export]", f"genotype={run_dir / 'model.json'}", "data.variables=3"],
                    tmp_path / "again")
    assert again.returncode == 0, again.stderr[-3000:]
    again_report = read_report(tmp_path / "again")
    assert again_report["genotype"] == report["genotype"] and again_report["model"]["name"] == "cls_1k_npu"
