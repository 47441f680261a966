"""The fused supernet: shapes, gradients, and per-op equality with the registry's modules."""

import pytest
import torch

from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.ops import OPS, PRIMITIVES, build_op
from nas_lightning.search_space.supernet import CONV_OPS, MAX_KERNEL, SourceOps, SuperNet


@pytest.mark.parametrize("partial", [1, 2])
def test_shape_and_every_parameter_gets_a_gradient(partial):
    torch.manual_seed(0)
    net = SuperNet(NetShape(MacroSpec(4, 3, 2, 3, 2), 2, 45, 5), partial=partial)
    x = torch.randn(4, 2, 45)
    out = net(x)
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    out.logsumexp(-1).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_detached_alphas_get_no_gradient():
    net = SuperNet(NetShape(MacroSpec(3, 2, 2, 3, 2), 1, 32, 3))
    net(torch.randn(4, 1, 32), detach_alphas=True).sum().backward()
    assert all(a.grad is None for a in net.arch_parameters())
    assert net.stem[0].weight.grad is not None


def test_alphas_are_registered_in_a_fixed_order():
    net = SuperNet(NetShape(MacroSpec(3, 4, 1, 3, 4), 1, 32, 3))
    names = [n for n, _ in net.named_parameters()]
    assert names[:2] == ["alphas_normal", "alphas_reduce"]
    assert net.alphas_normal.shape == (10, len(PRIMITIVES))


@pytest.mark.parametrize("stride", [1, 2])
def test_fused_edge_equals_registry_ops(stride):
    """One-hot weights on a fused source must reproduce each op built from the registry."""
    torch.manual_seed(0)
    c, n_dest = 3, 2
    fused = SourceOps(c, n_dest, stride)
    x = torch.randn(5, c, 40)
    for col, name in enumerate(PRIMITIVES):
        if name == "none":
            continue
        weights = torch.zeros(n_dest, len(PRIMITIVES))
        weights[:, col] = 1.0
        got = fused(x, weights)
        for d in range(n_dest):
            ref = build_op(name, c, stride)
            if OPS[name].kind == "conv":
                k = CONV_OPS.index(name)
                full = fused.conv.weight.view(n_dest, len(CONV_OPS), c, c, MAX_KERNEL)[d, k]
                lo = MAX_KERNEL // 2 - OPS[name].kernel // 2
                ref[0].weight.data.copy_(full[..., lo : lo + OPS[name].kernel])
            elif name == "skip_connect" and stride == 2:
                ref[0].weight.data.copy_(fused.skip[0].weight.view(n_dest, c, c, 1)[d])
            expected = ref(x)
            if OPS[name].kind in ("avg_pool", "max_pool"):  # the supernet normalises pooled maps (DARTS)
                expected = torch.nn.functional.batch_norm(expected, None, None, training=True)
            torch.testing.assert_close(got[:, d], expected, atol=1e-5, rtol=1e-4, msg=f"{name} edge {d}")


@pytest.mark.parametrize("stride", [1, 2])
def test_partial_source_runs_its_ops_on_every_kth_channel_and_passes_the_rest(stride):
    """PC-DARTS: with K=4 an 8-channel state sends channels 0 and 4 through the ops; the other six
    bypass them (max-pooled at stride 2), and the cell sums them into the node unchanged."""
    torch.manual_seed(0)
    source, whole = SourceOps(8, 2, stride, partial=4), SourceOps(2, 2, stride)
    assert source.conv.weight.shape == whole.conv.weight.shape == (2 * len(CONV_OPS) * 2, 2, MAX_KERNEL)
    whole.load_state_dict(source.state_dict())
    x = torch.randn(3, 8, 40)
    picked, rest = source.split(x)
    torch.testing.assert_close(picked, x[:, [0, 4]])
    others = x[:, [1, 2, 3, 5, 6, 7]]
    torch.testing.assert_close(rest, others if stride == 1 else build_op("max_pool_3x1", 6, 2)(others))
    weights = torch.softmax(torch.randn(2, len(PRIMITIVES)), -1)
    torch.testing.assert_close(source(picked, weights), whole(x[:, [0, 4]], weights))


def test_edge_weights_normalise_over_each_nodes_inputs_and_steer_derivation():
    net = SuperNet(NetShape(MacroSpec(3, 3, 4, 3, 3), 1, 32, 3), partial=4)
    assert len(net.arch_parameters()) == 4
    with torch.no_grad():
        net.alphas_normal.zero_()
        net.betas["normal"].copy_(torch.tensor([0.0, 0.0, 3.0, 0.0, 0.0, 3.0]))  # node 2 <- 1, node 3 <- 2
    weights = net.edge_weights("normal")
    for node, rows in {1: [0], 2: [1, 2], 3: [3, 4, 5]}.items():
        torch.testing.assert_close(weights[rows].sum(), torch.tensor(1.0))
    assert [src for _, src in net.genotype().normal] == [0, 1, 2]
    assert SuperNet(NetShape(MacroSpec(3, 3, 4, 3, 3), 1, 32, 3)).betas is None  # K=1: plain DARTS, no edge weights
