"""``space=chain`` (search_space/chain_*.py): the supernet's shapes and gradients, the expected cost
against an independent count at one-hot alphas, TI's standard models as genotypes of the space, the
derived chain's JSON round trip and NPU legality through a real export, and the config refusals."""

import json
import random

import onnx
import pytest
import torch

from nas_lightning.devices import Device
from nas_lightning.errors import UserInputError
from nas_lightning.export.npu_rules import check_npu_rules
from nas_lightning.export.onnx_graph import export_float
from nas_lightning.search_space.architecture import arch_cost, arch_from_dict, build_net
from nas_lightning.search_space.chain_cost import ExpectedChainCost
from nas_lightning.search_space.chain_derive import chain_logits, derive_chain, random_logits
from nas_lightning.search_space.chain_space import OP_NAMES, STRIDES, ChainSpace, widths_up_to
from nas_lightning.search_space.chain_supernet import ChainSuperNet
from nas_lightning.search_space.layout import NetShape
from nas_lightning.search_space.standard import standard_model

from conftest import TINY, compose_run_config, read_report, run_cli


def space_for(device: str, channels: int = 2, length: int = 60, classes: int = 3, preset: str = "m") -> ChainSpace:
    cfg = compose_run_config(["space=chain", f"device={device}", f"preset={preset}"])
    shape = NetShape(None, channels, length, classes)
    return Device(cfg.device).chain_space(cfg.space, preset, shape)


def test_supernet_shapes_and_gradients_reach_every_parameter_and_allowed_alpha():
    torch.manual_seed(0)
    space = space_for("host")  # no device bans: every op, dilated conv included
    net = ChainSuperNet(space)
    out = net(torch.randn(6, space.channels, space.length))
    assert out.shape == (6, space.classes)
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    for name, p in net.named_parameters():
        if name.startswith("alphas."):
            banned = space.banned(name.split(".")[1])
            assert (p.grad[~banned] != 0).all(), name
            assert (p.grad[banned] == 0).all(), name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("device", ["host", "F28P55"])
def test_expected_cost_equals_an_independent_count_at_one_hot_alphas(device):
    space = space_for(device, channels=3, length=97)
    cost, rng = ExpectedChainCost(space), random.Random(0)
    for _ in range(12):
        logits = random_logits(space, rng)
        chain = derive_chain(space, logits)
        net = build_net(chain, space.shape)
        expected = cost.all(logits)
        assert expected["params"].item() == pytest.approx(sum(p.numel() for p in net.parameters()))
        macs, hooks = [0], []
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)):
                hooks.append(m.register_forward_hook(lambda m, i, o: macs.__setitem__(
                    0, macs[0] + m.weight.numel() * (o.shape[-1] if o.dim() == 3 else 1))))
        net.eval()(torch.zeros(1, space.channels, space.length))
        assert expected["macs"].item() == pytest.approx(macs[0])
        assert expected["deployed"].item() == pytest.approx(arch_cost(chain, space.shape).deployed)
        assert expected["pool_reads"].item() == pytest.approx(arch_cost(chain, space.shape).pool_reads)
        assert expected["linear_macs"].item() == pytest.approx(arch_cost(chain, space.shape).linear_macs)
    assert cost.minimum("deployed") <= min(arch_cost(derive_chain(space, random_logits(space, rng)), space.shape).deployed
                                           for _ in range(20))


def test_expected_latency_is_the_device_model_of_the_derived_chain_at_one_hot_alphas():
    """mode=Latency with space=chain: the latency model's expectation (a linear sum of the counts above) equals
    its estimate of the built chain, and the penalty's floor is no dearer than a random chain."""
    space = space_for("F28P55", channels=3, length=97)
    latency = compose_run_config(["device=F28P55"]).device.latency
    cost, rng = ExpectedChainCost(space), random.Random(1)
    latency.add_to(cost)
    assert cost.knows("latency_us")
    for _ in range(8):
        logits = random_logits(space, rng)
        chain = derive_chain(space, logits)
        assert cost(logits, "latency_us").item() == pytest.approx(latency.estimate_us(arch_cost(chain, space.shape)), rel=1e-5)
        assert cost.minimum("latency_us") <= latency.estimate_us(arch_cost(chain, space.shape))


@pytest.mark.parametrize("name", ["cls_500_npu", "cls_1k_npu", "cls_4k_npu"])
def test_ti_standard_models_are_genotypes_of_the_space(name):
    space = space_for("F28P55", channels=1, length=512, classes=2)
    standard = standard_model(name)
    chain = derive_chain(space, chain_logits(space, standard))
    assert chain.layers == standard.layers
    params = sum(p.numel() for p in build_net(chain, space.shape).parameters())
    assert params == arch_cost(standard, space.shape).params  # 532, 876, 3692 (TI's specs)
    assert ExpectedChainCost(space)(chain_logits(space, standard), "params").item() == params


def test_derived_chain_round_trips_through_its_json():
    space = space_for("host")
    rng = random.Random(3)
    kinds = set()
    for _ in range(10):
        chain = derive_chain(space, random_logits(space, rng))
        kinds |= {(layer.kind, layer.dilation) for layer in chain.layers}
        again = arch_from_dict(json.loads(chain.to_json()))
        assert again == chain and str(again) == str(chain)
    assert {("dwsep", 1), ("conv", 2)} <= kinds  # the new layer kinds went through


def test_derived_width_is_the_allowed_width_nearest_the_expected_one():
    """The penalty prices the expected width; the derivation keeps that width, not the argmax's: half the
    mass on the narrowest and half on the widest is the middle of the ladder, where argmax would take an end."""
    space = space_for("F28P55")
    ladder = list(space.widths)
    logits = chain_logits(space, derive_chain(space, random_logits(space, random.Random(0))))
    logits["op"] = torch.full_like(logits["op"], -1e9).masked_fill(space.banned("op"), float("-inf"))
    logits["op"][:, OP_NAMES.index("conv_3")] = 0  # every layer present, a conv
    logits["width"] = torch.full_like(logits["width"], -1e9)
    logits["width"][:, 0] = logits["width"][:, -1] = 0  # p = 1/2 on the narrowest and the widest
    logits["width"][:, -1] += 1e-3  # argmax: the widest
    logits["width"] = logits["width"].masked_fill(space.banned("width"), float("-inf"))
    chain = derive_chain(space, logits)
    middle = min(ladder, key=lambda w: abs(w - (ladder[0] + ladder[-1]) / 2))
    assert [layer.out for layer in chain.layers[:-1]] == [middle] * (space.depth - 1)
    assert chain.layers[-1].out == ladder[-1]  # the head's row: only widths >= 16 allowed, all mass on the widest
    assert middle not in (ladder[0], ladder[-1])


def test_npu_derivation_is_legal_and_exports_clean(tmp_path):
    """Alphas that prefer stride 2 everywhere on a short input: the derivation keeps the global pool over
    > 2 samples; no dilated conv; the head >= 16 features; the exported graph passes the NPU rules."""
    space = space_for("F28P55", channels=3, length=24)
    rng = random.Random(1)
    for k in range(4):
        logits = random_logits(space, rng)
        logits["stride"] = torch.tensor([[0.0, 1.0]] * space.depth)
        chain = derive_chain(space, logits)
        assert space.final_length(chain.layers) >= 3
        assert all(layer.dilation == 1 for layer in chain.layers) and chain.layers[-1].out >= 16
        net = build_net(chain, space.shape).eval()
        export_float(net, tmp_path / f"m{k}.onnx", 17, {}, variables_as_width=True)
        report = check_npu_rules(onnx.load(str(tmp_path / f"m{k}.onnx")))
        assert report["violations"] == [], (str(chain), report["violations"])
    assert "dil_conv_3" not in space.allowed_ops(1) and "dil_conv_3" in space_for("host").allowed_ops(1)


def test_a_chain_outside_the_space_is_not_a_genotype():
    space = space_for("F28P55", preset="s")
    with pytest.raises(ValueError):
        chain_logits(space, standard_model("cls_4k_npu"))  # 5 layers, preset s has 3
    assert len(OP_NAMES) == 7 and STRIDES == (1, 2) and space.widths == widths_up_to(16)


@pytest.mark.parametrize("overrides, message", [
    (["space=chain", "space.widest=20"], "space.widest=20: allowed values are 16, 24, 32, 48, 64, 96, 128 or null"),
    (["space=chain", "space.depth=1"], "space.depth=1: must be in 2..24"),
    (["space.depth=4"], "space.depth=4: only space=chain has it"),
    (["space=chain", "search.partial_channels=4"], "space=chain has neither"),
])
def test_bad_space_values_are_refused(overrides, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compose_run_config(overrides)


@pytest.mark.parametrize("overrides, weight", [
    ([], 1.0),  # the cells' default, unchanged
    (["space=chain"], 0.1),  # the chain space's own (config.py SPACE_WEIGHTS)
    (["space=chain", "mode.weight=0.7"], 0.7),  # a weight the user gives wins in either space
    (["mode.weight=0"], 0.0),
])
def test_mode_weight_defaults_per_space_and_yields_to_the_user(overrides, weight):
    assert compose_run_config(overrides).mode.weight == weight


@pytest.mark.slow  # a real CLI run (make test-full); the unit tests above cover the space
def test_chain_search_runs_end_to_end_through_the_cli(tmp_path):
    """The product's command with space=chain: searched chain saved, retrained, exported NPU-clean."""
    result = run_cli([*TINY, "space=chain"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = read_report(tmp_path)
    genotype = json.loads((tmp_path / "genotype.json").read_text())
    assert genotype["kind"] == "chain" and report["genotype"]["layers"] == genotype["layers"]
    assert report["search"]["space"] == "chain" and report["search"]["mode_weight"] == 0.1
    assert set(report["search"]["alpha_entropy"]) == {"op", "width", "stride"}
    chain = arch_from_dict(genotype)
    assert report["model"]["params_deployed"] == arch_cost(chain, NetShape(None, 1, report["data"]["length"], len(report["data"]["classes"]))).deployed
    assert report["device"]["npu"]["violations"] == [] and report["device"]["ok"]
