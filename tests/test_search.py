"""DARTSSearchModule on the real Trainer: penalties shrink what is found, unrolled differs from
first order, the kept genotype is the best-validation one, and the same seed gives the same genotype."""

import pytest
import torch
import torch.nn.functional as F

from nas_lightning.modules.architect import unrolled_alpha_grads
from nas_lightning.search_space.cost import fixed_net_cost
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.supernet import SuperNet

from conftest import QUICK_SEARCH, search_only



def _search(tmp_path, overrides):
    searched, shape, _ = search_only([*QUICK_SEARCH, *overrides], tmp_path)
    return searched.genotype, fixed_net_cost(searched.genotype, shape), searched.info


@pytest.mark.parametrize("mode, metric", [("Memory", "deployed"), ("Compute", "macs")])
def test_large_penalty_finds_a_cheaper_network(tmp_path, mode, metric):
    _, free, _ = _search(tmp_path / "free", [f"mode={mode}", "mode.weight=0"])
    _, taxed, _ = _search(tmp_path / "taxed", [f"mode={mode}", "mode.weight=50"])
    assert taxed.get(metric) < free.get(metric)


@pytest.mark.parametrize("partial", [1, 2])
def test_same_seed_same_genotype_and_file_written(tmp_path, partial):
    g1, _, info = _search(tmp_path / "a", ["search.epochs=2", f"search.partial_channels={partial}"])
    g2, _, _ = _search(tmp_path / "b", ["search.epochs=2", f"search.partial_channels={partial}"])
    assert g1 == g2
    assert (tmp_path / "a" / "genotype.json").is_file()
    assert 0 <= info["best_epoch"] < 2


def test_recomputed_cells_give_the_same_gradients_and_genotype(tmp_path):
    torch.manual_seed(0)
    spec, x, y = MacroSpec(3, 3, 2, 3, 2), torch.randn(8, 2, 40), torch.randint(0, 3, (8,))
    kept, recomputed = SuperNet(NetShape(spec, 2, 40, 3)), SuperNet(NetShape(spec, 2, 40, 3), checkpoint=True)
    recomputed.load_state_dict(kept.state_dict())
    for net in (kept, recomputed):
        F.cross_entropy(net(x), y).backward()
    for a, b in zip(kept.parameters(), recomputed.parameters()):  # alphas included
        torch.testing.assert_close(a.grad, b.grad)
    g1, _, _ = _search(tmp_path / "a", ["search.epochs=2"])
    g2, _, _ = _search(tmp_path / "b", ["search.epochs=2", "search.checkpoint=true"])
    assert g1 == g2


def test_unrolled_search_runs(tmp_path):
    genotype, _, _ = _search(tmp_path, ["search.unrolled=true", "search.epochs=1"])
    assert len(genotype.normal) == 4


def test_unrolled_gradient_differs_from_first_order():
    torch.manual_seed(0)
    net = SuperNet(NetShape(MacroSpec(3, 2, 2, 3, 2), 2, 48, 3))
    make = lambda: (torch.randn(8, 2, 48), torch.randint(0, 3, (8,)))  # noqa: E731
    train, val = make(), make()
    first = torch.autograd.grad(F.cross_entropy(net(val[0]), val[1]), net.arch_parameters())
    second, _ = unrolled_alpha_grads(net, train, val, xi=0.1, weight_decay=3e-4)
    for g1, g2 in zip(first, second):
        assert g1.shape == g2.shape and torch.isfinite(g2).all()
        assert not torch.allclose(g1, g2, atol=1e-6)
    zero_step, _ = unrolled_alpha_grads(net, train, val, xi=0.0, weight_decay=0.0)  # xi=0 is first order
    for g1, g0 in zip(first, zero_step):
        torch.testing.assert_close(g0, g1, atol=1e-5, rtol=1e-4)
