"""Second-order DARTS alpha gradient (``search.unrolled=true``), in plain torch.

grad_alpha L_val(w', alpha) with w' = w - xi * grad_w L_train(w, alpha) (one virtual SGD step), and
the Hessian-vector product in its chain rule by central finite differences (Liu et al., 2019, eq. 7-8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ..search_space.supernet import SuperNet


def _loss(net: SuperNet, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(functional_call(net, params, (x,)), y)


def unrolled_alpha_grads(
    net: SuperNet, train_batch, val_batch, xi: float, weight_decay: float
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(alpha gradients, validation loss at the virtual weights)."""
    alpha_names = {name for name, p in net.named_parameters() if any(p is a for a in net.arch_parameters())}
    params = dict(net.named_parameters())
    w_names = [n for n in params if n not in alpha_names]
    a_names = [n for n in params if n in alpha_names]
    weights = [params[n] for n in w_names]
    alphas = [params[n] for n in a_names]

    # virtual step w' = w - xi * (dL_train/dw + wd * w), kept in the graph only through alphas' values
    train_loss = _loss(net, params, *train_batch)
    g_w = torch.autograd.grad(train_loss, weights)
    virtual = {n: (w - xi * (g + weight_decay * w)).detach() for n, w, g in zip(w_names, weights, g_w)}

    val_loss = _loss(net, {**virtual, **dict(zip(a_names, alphas))}, *val_batch)
    virtual_tensors = [virtual[n].requires_grad_() for n in w_names]
    grads = torch.autograd.grad(val_loss, alphas + virtual_tensors, allow_unused=True)
    d_alpha = [g if g is not None else torch.zeros_like(a) for g, a in zip(grads[: len(alphas)], alphas)]
    d_w = [g if g is not None else torch.zeros_like(w) for g, w in zip(grads[len(alphas) :], weights)]

    # Hessian-vector product: (grad_alpha L_train(w+) - grad_alpha L_train(w-)) / (2 eps)
    eps = 0.01 / torch.sqrt(sum((g * g).sum() for g in d_w)).clamp_min(1e-12)
    hessian = []
    for sign in (1.0, -1.0):
        shifted = {n: (w + sign * eps * g).detach() for n, w, g in zip(w_names, weights, d_w)}
        loss = _loss(net, {**shifted, **dict(zip(a_names, alphas))}, *train_batch)
        hessian.append(torch.autograd.grad(loss, alphas))
    grads_alpha = [da - xi * (hp - hm) / (2 * eps) for da, hp, hm in zip(d_alpha, *hessian)]
    return grads_alpha, val_loss.detach()
