"""A short quantization-aware fine-tune of the trained 1-D network (``quant.qat=true``).

Why: deep, narrow cell networks lose 5-25 points to per-tensor int8 activations after plain
post-training quantization (errors of ten cells add up), while a fine-tune that sees the rounding
recovers float accuracy.

Kept small: BN is first folded into each conv (the BN stays as a frozen identity carrying the folded
bias, so export still works and folds it away again); conv and linear weights are fake-quantized per
output channel (symmetric int8) and the outputs of every stem/op/preprocess block, every cell
(concat), the global pool and the input per tensor, with straight-through gradients. Activation
ranges are running maxima of |x|. With ``pow2`` every scale is rounded up to a power of two, as the
NPU export does. Weights are left on the int8 grid, so the post-training quantizer that runs next
re-derives exactly these weight scales. The fine-tune uses the retrain's data, augmentation and label
smoothing, AdamW at ``lr`` with a cosine to 0 over ``steps`` batches, and keeps the last weights.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.fusion import fuse_conv_bn_weights



def _scale(amax: torch.Tensor, pow2: bool) -> torch.Tensor:
    s = amax.clamp_min(1e-8) / 127.0
    return 2.0 ** torch.ceil(torch.log2(s)) if pow2 else s


def fake_quant(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    q = torch.clamp(torch.round(x / scale), -127, 127) * scale
    return x + (q - x).detach()  # straight-through estimator


class WeightFakeQuant(nn.Module):
    def __init__(self, pow2: bool):
        super().__init__()
        self.pow2 = pow2

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        amax = w.detach().abs().flatten(1).max(1).values
        return fake_quant(w, _scale(amax, self.pow2).view(-1, *[1] * (w.dim() - 1)))


class ActivationFakeQuant:
    """Forward hook: fake-quantizes a module's output with a running |max| range."""

    def __init__(self, pow2: bool, momentum: float = 0.9):
        self.pow2, self.momentum, self.amax = pow2, momentum, None

    def __call__(self, module, inputs, output):
        if module.training or self.amax is None:
            amax = output.detach().abs().max()
            self.amax = amax if self.amax is None else self.momentum * self.amax + (1 - self.momentum) * amax
        return fake_quant(output, _scale(self.amax, self.pow2))


def fold_batch_norms(net: nn.Module) -> None:
    """Each BN folded into its conv (torch's ``fuse_conv_bn_weights``); the BN stays as an identity that
    adds the folded bias, so the module tree (and the export) keeps its shape."""
    for m in net.modules():
        if isinstance(m, nn.Sequential) and len(m) >= 2 and isinstance(m[1], nn.modules.batchnorm._BatchNorm):
            conv, bn = m[0], m[1]
            with torch.no_grad():
                weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                                    bn.weight, bn.bias)
                conv.weight.copy_(weight)
                bn.bias.copy_(bias)
                if conv.bias is not None:  # a chain's biased conv: its bias is in the BN's now
                    conv.bias.zero_()
                    conv.bias.requires_grad_(False)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                bn.weight.fill_(1.0)
            bn.weight.requires_grad_(False)


def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


def qat_finetune(net: nn.Module, fit: tuple, steps: int, lr: float, pow2: bool, batch_size: int = 64, seed: int = 0,
                 augment_batch=lambda x, step: x, label_smoothing: float = 0.0) -> tuple[nn.Module, dict]:
    """A fine-tuned copy of ``net`` (weights on the int8 grid) and its fake-quantized accuracy on ``fit``."""
    gen = torch.Generator().manual_seed(seed)
    net = copy.deepcopy(net).cpu()
    fold_batch_norms(net)
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    for m in layers:
        parametrize.register_parametrization(m, "weight", WeightFakeQuant(pow2))
    handles = [b.register_forward_hook(ActivationFakeQuant(pow2)) for b in net.quant_blocks()]
    input_quant = ActivationFakeQuant(pow2)
    handles.append(net.register_forward_pre_hook(lambda m, args: (input_quant(m, None, args[0]),)))

    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    x, y = fit
    before = _accuracy(net.eval(), x, y)
    net.train()
    for m in net.modules():  # BN statistics stay frozen (they are folded)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    done = 0
    while done < steps:
        for idx in torch.randperm(len(y), generator=gen).split(batch_size):
            if done == steps or len(idx) < 2:
                break
            loss = F.cross_entropy(net(augment_batch(x[idx], done)), y[idx], label_smoothing=label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
    after = _accuracy(net.eval(), x, y)
    for h in handles:
        h.remove()
    for m in layers:
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    return net.eval(), {"steps": steps, "lr": lr, "fit_acc_fake_quant_before": before,
                        "fit_acc_fake_quant_after": after}
