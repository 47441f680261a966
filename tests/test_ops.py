"""Every primitive: shape at each stride, gradients to every parameter, no NaN, 1-D == 2-D twin."""

import pytest
import torch

from conftest import perturb_batch_norms
from nas_lightning.search_space.network import to_2d_state_dict
from nas_lightning.search_space.ops import PRIMITIVES, build_op, out_length

OPS = [p for p in PRIMITIVES if p != "none"]


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("length", [31, 32])
def test_shape_gradients_and_finite(name, stride, length):
    torch.manual_seed(0)
    op = build_op(name, 4, stride)
    x = torch.randn(3, 4, length, requires_grad=True)
    y = op(x)
    assert y.shape == (3, 4, out_length(length, stride))
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in op.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


def test_none_is_never_built():
    with pytest.raises(ValueError):
        build_op("none", 4, 1)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_two_d_twin_computes_the_same(name, stride):
    torch.manual_seed(1)
    one, two = build_op(name, 4, stride, dims=1).eval(), build_op(name, 4, stride, dims=2).eval()
    perturb_batch_norms(one)
    two.load_state_dict(to_2d_state_dict(one.state_dict()))
    x = torch.randn(2, 4, 33)
    torch.testing.assert_close(two(x.unsqueeze(-1)).squeeze(-1), one(x))
