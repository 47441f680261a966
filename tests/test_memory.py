"""Memory model against hand-computed networks, the smallest network against random ones, flash
against the int8 ONNX file, and the differentiable estimate against exact values."""

import random

import onnx
import pytest
import torch
from onnx import numpy_helper

from nas_lightning.search_space.genotype import Genotype
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.memory import LAYER_OVERHEAD_BYTES, ExpectedMemory, network_memory, smallest_genotype
from nas_lightning.search_space.ops import PRIMITIVES

from test_cost import random_genotype


def test_hand_computed_pruned_network():
    # stem 2ch; cell0 normal c=1 L=8 (conv3 then identity, concat [2]); cells 1, 2 reduce c=2/4 with
    # node 1 pruned (concat [2] reads state 0 through a strided conv5).
    g = Genotype(normal=[("conv_bn_relu_3x1", 0), ("skip_connect", 1)],
                 reduce=[("max_pool_3x1", 0), ("conv_bn_relu_5x1", 0)], normal_concat=[2], reduce_concat=[2])
    m = network_memory(g, NetShape(MacroSpec(3, 2, 1, 2, 1), 2, 8, 3))
    assert (m.weights, m.biases, m.layers) == (12 + 2 + 3 + 2 + 20 + 8 + 80 + 12, 2 + 1 + 1 + 2 + 2 + 4 + 4 + 3, 8)
    assert m.flash_bytes == 139 + 19 * 4 + 8 * LAYER_OVERHEAD_BYTES
    # peak: stem output (16) + cell 0 state 0 (8) = 24, plus the 2x8 input buffer
    assert (m.sram_bytes, m.input_bytes, m.peak_step) == (40, 16, "cell 0 preprocess")


def test_hand_computed_concat_holds_inputs_and_state0_stays_alive():
    # cell0 normal c=2 L=4: node1 conv3(0), node2 max_pool(0) (state 0 still alive), node3 = alias of node1;
    # the concat holds node1 + node2 (8 + 8) and its 4x4 output: 32 bytes.
    g = Genotype(normal=[("conv_bn_relu_3x1", 0), ("max_pool_3x1", 0), ("skip_connect", 1)],
                 reduce=[("max_pool_3x1", 0), ("skip_connect", 1), ("skip_connect", 1)],
                 normal_concat=[2, 3], reduce_concat=[2, 3])
    m = network_memory(g, NetShape(MacroSpec(3, 3, 2, 1, 2), 1, 4, 2))
    assert (m.weights, m.biases, m.layers) == (6 + 4 + 12 + 16 + 64 + 32, 2 + 2 + 2 + 4 + 8 + 2, 6)
    assert m.flash_bytes == 134 + 20 * 4 + 6 * LAYER_OVERHEAD_BYTES
    assert (m.sram_bytes, m.peak_step) == (32 + 4, "cell 0 concat")


@pytest.mark.parametrize("spec", [MacroSpec(3, 4, 1, 3, 4), MacroSpec(5, 4, 4, 3, 2), MacroSpec(6, 6, 2, 3, 4)])
def test_smallest_genotype_is_a_lower_bound(spec):
    rng = random.Random(0)
    low = network_memory(smallest_genotype(spec.nodes_per_layer, spec.fanout_concat), NetShape(spec, 3, 64, 4))
    for _ in range(200):
        m = network_memory(random_genotype(spec.nodes_per_layer, spec.fanout_concat, rng), NetShape(spec, 3, 64, 4))
        assert m.flash_bytes >= low.flash_bytes and m.sram_bytes >= low.sram_bytes


def _peaked_alphas(g: Genotype, nodes: int) -> dict[str, torch.Tensor]:
    """Every input edge of node k prefers node k's op: the expected network is ``g`` itself."""
    alphas = {}
    for t in ("normal", "reduce"):
        rows = []
        for k in range(1, nodes + 1):
            for _ in range(k):
                a = torch.full((len(PRIMITIVES),), -30.0)
                a[PRIMITIVES.index(g.cell(t)[0][k - 1][0])] = 30.0
                rows.append(a)
        alphas[t] = torch.stack(rows).requires_grad_()
    return alphas


def test_expected_flash_equals_exact_at_peaked_alphas_and_has_gradients():
    spec = MacroSpec(4, 3, 4, 3, 3)  # fanout = nodes: every node is live whatever its input
    expected = ExpectedMemory(NetShape(spec, 3, 32, 4))
    ops = [p for p in PRIMITIVES if p not in ("none", "skip_connect")]  # a skip's cost depends on its input
    for seed in range(5):
        rng = random.Random(seed)
        normal, reduce = ([(rng.choice(ops), rng.randrange(k)) for k in range(1, 4)] for _ in range(2))
        g = Genotype(normal=normal, reduce=reduce, normal_concat=[1, 2, 3], reduce_concat=[1, 2, 3])
        alphas = _peaked_alphas(g, 3)
        flash, sram = expected(alphas)
        assert flash.item() == pytest.approx(network_memory(g, NetShape(spec, 3, 32, 4)).flash_bytes, rel=1e-5)
        smallest = network_memory(smallest_genotype(3, 3), NetShape(spec, 3, 32, 4)).sram_bytes
        assert sram.item() >= smallest
    uniform = {t: torch.zeros(6, len(PRIMITIVES), requires_grad=True) for t in ("normal", "reduce")}
    flash, sram = expected(uniform)
    grads = torch.autograd.grad(flash + sram, list(uniform.values()))
    assert all(g.abs().sum() > 0 for g in grads)


def test_flash_matches_the_int8_onnx_of_a_cli_run(tiny_run):
    """int8 weights + int32 biases read from model_int8.onnx equal the model's weights and biases."""
    from conftest import read_report

    report = read_report(tiny_run)
    model = onnx.load(str(tiny_run / "model_int8.onnx"))
    count = {onnx.TensorProto.INT8: 0, onnx.TensorProto.INT32: 0}
    for init in model.graph.initializer:
        if init.data_type in count and "zero_point" not in init.name:
            count[init.data_type] += numpy_helper.to_array(init).size
    memory = report["memory"]
    assert (count[onnx.TensorProto.INT8], count[onnx.TensorProto.INT32]) == (memory["weights"], memory["biases"])
