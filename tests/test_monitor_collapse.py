"""Collapse controls: the β-DARTS decay keeps the op distributions from collapsing (its gradient is
softmax(alpha) per edge, and a search with it ends less decided), and ``search.max_skip`` caps
skip_connect in the genotype a real search derives."""

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nas_lightning.config import SearchConfig
from nas_lightning.errors import UserInputError
from nas_lightning.modules.alpha_terms import BetaDecay
from nas_lightning.modules.search import DARTSSearchModule
from nas_lightning.search_space.ops import PRIMITIVES
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.supernet import SuperNet

from conftest import QUICK_SEARCH, compose_run_config, search_only



def _search(tmp_path, overrides):
    genotype = search_only([*QUICK_SEARCH, *overrides], tmp_path)[0].genotype
    acc = EventAccumulator(str(tmp_path / "tb" / "search"))
    acc.Reload()
    return genotype, acc


def test_beta_decay_gradient_is_softmax_over_edges():
    net = SuperNet(NetShape(MacroSpec(3, 3, 2, 3, 2), 2, 32, 3))
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_()
    module = DARTSSearchModule(net, SearchConfig(beta_decay=1.0), 3, total_steps=10)
    (decay,) = [t for t in module.alpha_terms if isinstance(t, BetaDecay)]
    grads = torch.autograd.grad(decay.loss(module.alphas_by_cell()), net.arch_parameters())
    for a, g in zip(net.arch_parameters(), grads):
        torch.testing.assert_close(g, torch.softmax(a.detach(), -1) / a.shape[0])


def test_banned_ops_are_masked_out_of_every_softmax_and_the_genotype():
    torch.manual_seed(0)
    net = SuperNet(NetShape(MacroSpec(3, 3, 2, 3, 2), 2, 32, 3), banned=("avg_pool_3x1",))
    col = PRIMITIVES.index("avg_pool_3x1")
    with torch.no_grad():
        net.alphas_normal[:, col] = 10.0  # would win every edge if it were allowed
    module = DARTSSearchModule(net, SearchConfig(), 3, total_steps=10)
    assert torch.softmax(module.alphas_by_cell()["normal"], -1)[:, col].eq(0).all()
    assert all(op != "avg_pool_3x1" for op, _ in net.genotype().normal)
    F.cross_entropy(net(torch.randn(4, 2, 32)), torch.tensor([0, 1, 2, 0])).backward()
    assert net.alphas_normal.grad[:, col].eq(0).all() and net.alphas_normal.grad.abs().sum() > 0


@pytest.mark.slow
def test_beta_decay_keeps_the_search_less_decided(tmp_path):
    _, plain = _search(tmp_path / "plain", ["search.beta_decay=0", "mode.weight=0"])
    _, decayed = _search(tmp_path / "decayed", ["search.beta_decay=20", "mode.weight=0"])
    for t in ("normal", "reduce"):
        tag = f"alpha/entropy_{t}_epoch"
        assert decayed.Scalars(tag)[-1].value > plain.Scalars(tag)[-1].value
    assert "search/beta_decay_loss" not in plain.Tags()["scalars"]


@pytest.mark.slow
def test_max_skip_caps_skip_connect_in_the_searched_genotype(tmp_path):
    cheap = ["mode=Memory", "mode.weight=50"]  # a heavy memory tax pushes the search towards skip_connect
    free, _ = _search(tmp_path / "free", cheap)
    capped, _ = _search(tmp_path / "capped", [*cheap, "search.max_skip=0"])
    skips = lambda g: sum(op == "skip_connect" for cell in (g.normal, g.reduce) for op, _ in cell)  # noqa: E731
    assert skips(free) > 0, "the uncapped search should pick skip_connect here, or this test proves nothing"
    assert skips(capped) == 0


@pytest.mark.parametrize("override", ["search.beta_decay=-1", "search.max_skip=-1", "search.partial_channels=0"])
def test_bad_collapse_settings_are_refused(override):
    with pytest.raises(UserInputError, match=override.split("=")[0]):
        compose_run_config([override])
