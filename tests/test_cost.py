"""Cost model against independent counts: parameters by numel, MACs by forward hooks,
and the differentiable expected cost against fixed networks it should agree with."""

import random

import pytest
import torch
from torch import nn

from nas_lightning.search_space.cost import ExpectedCost, fixed_net_cost
from nas_lightning.search_space.derive import derive_genotype
from nas_lightning.search_space.genotype import Genotype
from nas_lightning.search_space.layout import MacroSpec, NetShape, edge_list
from nas_lightning.search_space.network import FixedNet
from nas_lightning.search_space.ops import PRIMITIVES

SPECS = [MacroSpec(3, 4, 1, 3, 4), MacroSpec(10, 4, 1, 3, 4), MacroSpec(5, 4, 4, 3, 2), MacroSpec(6, 6, 2, 3, 4)]


def random_genotype(nodes: int, fanout: int, rng: random.Random) -> Genotype:
    ops = [p for p in PRIMITIVES if p != "none"]
    cell = lambda: [[rng.choice(ops), rng.randrange(k)] for k in range(1, nodes + 1)]  # noqa: E731
    concat = list(range(nodes - fanout + 1, nodes + 1))
    return Genotype.from_dict({"normal": cell(), "reduce": cell(), "normal_concat": concat, "reduce_concat": concat})


def hook_macs(net: nn.Module, x: torch.Tensor) -> int:
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            per_out = module.weight[0].numel()  # (in/groups) * kernel
            total += output[0].numel() * per_out
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(count) for m in net.modules()]
    net.eval()(x)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("length", [64, 75])
def test_fixed_net_cost_matches_numel_and_hooks(spec, length):
    rng = random.Random(spec.layers * 100 + length)
    for _ in range(3):
        g = random_genotype(spec.nodes_per_layer, spec.fanout_concat, rng)
        net = FixedNet(g, NetShape(spec, 3, length, 5))
        cost = fixed_net_cost(g, NetShape(spec, 3, length, 5))
        assert cost.params == sum(p.numel() for p in net.parameters())
        bn_channels = sum(m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm1d))
        assert cost.deployed == cost.params - bn_channels  # folding turns scale+shift into one bias
        assert cost.macs == hook_macs(net, torch.randn(1, 3, length))


def test_pruned_nodes_cost_nothing():
    g = Genotype.from_dict({
        "normal": [["conv_bn_relu_7x1", 0], ["skip_connect", 0]], "normal_concat": [2],
        "reduce": [["conv_bn_relu_3x1", 0], ["skip_connect", 1]], "reduce_concat": [2],
    })
    net = FixedNet(g, NetShape(SPECS[0], 1, 32, 2))
    assert "1" not in net.cells[0].ops  # node 1 of the normal cell feeds nothing
    assert fixed_net_cost(g, NetShape(SPECS[0], 1, 32, 2)).params == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("metric", ["params", "deployed", "macs"])
def test_expected_cost_equals_fixed_cost_when_alphas_are_decided(metric):
    """With every edge of a node strongly preferring the same conv op, the expected cost
    is the cost of the fixed network that derivation returns (within 1 %)."""
    spec, length = SPECS[1], 90
    torch.manual_seed(0)
    alphas = {}
    for t in ("normal", "reduce"):
        a = torch.full((len(edge_list(4)), len(PRIMITIVES)), -20.0)
        for row, (_, node) in enumerate(edge_list(4)):
            a[row, PRIMITIVES.index(["conv_bn_relu_3x1", "conv_bn_relu_5x1", "conv_bn_relu_7x1", "conv_bn_relu_5x1"][node - 1])] = 20.0
        alphas[t] = a
    g = derive_genotype(alphas, spec.fanout_concat)
    fixed = fixed_net_cost(g, NetShape(spec, 2, length, 4)).get(metric)
    expected = ExpectedCost(NetShape(spec, 2, length, 4))(alphas, metric).item()
    assert expected == pytest.approx(fixed, rel=0.01)


def test_expected_cost_is_differentiable_and_bounded():
    spec = SPECS[0]
    cost = ExpectedCost(NetShape(spec, 1, 64, 3))
    alphas = {t: torch.zeros(10, len(PRIMITIVES), requires_grad=True) for t in ("normal", "reduce")}
    value = cost(alphas, "macs")
    value.backward()
    assert 0 < value.item() < cost.maximum("macs")
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())
    assert all(a.grad[:, 0].abs().sum() == 0 for a in alphas.values())  # 'none' is not penalised


@pytest.mark.parametrize("spec", SPECS[:3])
def test_expected_cost_bounds_are_the_cheapest_and_dearest_networks(spec):
    """The log penalty's zero (minimum) and the top of the range (maximum), against fixed networks:
    a chain of max pools, and a chain of 7-wide convs (a chain keeps every node live)."""
    nodes = spec.nodes_per_layer
    concat = list(range(nodes - spec.fanout_concat + 1, nodes + 1))

    def uniform(op: str) -> Genotype:
        cell = [[op, k] for k in range(nodes)]
        return Genotype.from_dict({"normal": cell, "reduce": cell, "normal_concat": concat, "reduce_concat": concat})

    cost = ExpectedCost(NetShape(spec, 2, 64, 3))
    assert cost.minimum("deployed") == pytest.approx(fixed_net_cost(uniform("max_pool_3x1"), NetShape(spec, 2, 64, 3)).deployed)
    assert cost.maximum("deployed") == pytest.approx(fixed_net_cost(uniform("conv_bn_relu_7x1"), NetShape(spec, 2, 64, 3)).deployed)
