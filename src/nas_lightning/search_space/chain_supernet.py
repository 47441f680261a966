"""The ``space=chain`` supernet: a single path of ``depth`` searchable layers (FBNetV2 / MCUNet style),
searched by the same ``DARTSSearchModule`` as the cell supernet (same interface: ``arch_parameters``,
``logit_groups``, ``genotype``).

Per layer, with the softmax of its three alpha rows (chain_space.py):
- ops: the plain and dilated convs run as ONE 7-tap convolution with zero-masked taps (as the cell
  supernet does), the depthwise-separable conv and the max pool beside it, mixed by the op weights;
- width (FBNetV2): every layer is ``widest`` channels; conv outputs are multiplied by the expected
  channel mask sum_w p_w [1]*w + [0]*(widest - w), so a narrow choice zeroes the upper channels;
- stride: stride 2 is the stride-1 output subsampled (exact for these odd, 'same'-padded kernels), held
  back to full length by repeating each kept sample (FBNetV2 keeps searched resolutions one shape the
  same way), mixed with the stride-1 output by the stride weights. Later layers then see a held signal,
  not the halved one: the approximation that keeps one path;
- skip: the layer's input passed on, untouched by width and stride (a skipped layer is no layer).
BN is non-affine with batch statistics, as in the cell supernet; the head is global average pooling →
Linear, behind an optional non-affine input BN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .chain import Chain
from .chain_derive import derive_chain
from .chain_space import CHAIN_OPS, GROUPS, OP_NAMES, SKIP, ChainSpace
from .ops import batch_norm

TAPS = 7


def tap_mask(kernel: int, dilation: int) -> torch.Tensor:
    """The taps of a k-wide, d-dilated kernel inside a centred ``TAPS``-wide one."""
    mask = torch.zeros(TAPS)
    for t in range(-(kernel // 2), kernel // 2 + 1):
        mask[TAPS // 2 + t * dilation] = 1
    return mask


def hold(x: torch.Tensor) -> torch.Tensor:
    """The stride-2 subsample of ``x``, each sample repeated twice, cut to ``x``'s length."""
    return x[..., ::2].repeat_interleave(2, -1)[..., : x.shape[-1]]


class ChainLayer(nn.Module):
    def __init__(self, c_in: int, widest: int, ops: list[str]):
        super().__init__()
        self.conv_cols = [OP_NAMES.index(o) for o in ops if CHAIN_OPS[o].kind == "conv"]
        self.cols = {CHAIN_OPS[o].kind: OP_NAMES.index(o) for o in ops if CHAIN_OPS[o].kind != "conv"}
        n = len(self.conv_cols)
        self.conv = nn.Conv1d(c_in, n * widest, TAPS, padding=TAPS // 2, bias=False)
        masks = [tap_mask(CHAIN_OPS[OP_NAMES[j]].kernel, CHAIN_OPS[OP_NAMES[j]].dilation) for j in self.conv_cols]
        self.register_buffer("taps", torch.stack(masks).repeat_interleave(widest, 0)[:, None, :], persistent=False)
        self.conv_bn = batch_norm(n * widest, affine=False)
        self.dwsep = None
        if "dwsep" in self.cols:
            k = CHAIN_OPS[OP_NAMES[self.cols["dwsep"]]].kernel
            self.dwsep = nn.Sequential(nn.Conv1d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=False),
                                       batch_norm(c_in, affine=False), nn.ReLU(),
                                       nn.Conv1d(c_in, widest, 1, bias=False), batch_norm(widest, affine=False), nn.ReLU())
        self.pool = nn.MaxPool1d(3, 1, 1) if "max_pool" in self.cols else None

    def forward(self, x: torch.Tensor, ops: torch.Tensor, width: torch.Tensor, stride: torch.Tensor) -> torch.Tensor:
        """``ops``: (op choices,) weights; ``width``: (widest,) expected channel mask; ``stride``: (2,)."""
        n, length = x.shape[0], x.shape[-1]
        convs = F.relu(self.conv_bn(F.conv1d(x, self.conv.weight * self.taps, None, 1, TAPS // 2)))
        out = torch.einsum("nkcl,k->ncl", convs.view(n, len(self.conv_cols), -1, length), ops[self.conv_cols])
        if self.dwsep is not None:
            out = out + ops[self.cols["dwsep"]] * self.dwsep(x)
        out = out * width[None, :, None]
        if self.pool is not None:
            out = out + ops[self.cols["max_pool"]] * self.pool(x)
        out = stride[0] * out + stride[1] * hold(out)
        return out + ops[self.cols["skip"]] * x if "skip" in self.cols else out


class ChainSuperNet(nn.Module):
    def __init__(self, space: ChainSpace):
        super().__init__()
        self.space = space
        widest = max(space.widths)
        for g in GROUPS:
            self.register_buffer(f"banned_{g}", space.banned(g), persistent=False)
        masks = torch.tensor([[float(c < w) for c in range(widest)] for w in space.widths])
        self.register_buffer("width_masks", masks, persistent=False)
        self.input_bn = batch_norm(space.channels, affine=False) if space.input_bn else None
        self.layers = nn.ModuleList(
            ChainLayer(space.channels if i == 0 else widest, widest, space.allowed_ops(i)) for i in range(space.depth)
        )
        self.classifier = nn.Linear(widest, space.classes)
        self.alphas = nn.ParameterDict(
            {g: nn.Parameter(1e-3 * torch.randn(space.depth, len(space.choices(g)))) for g in GROUPS})

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas[g] for g in GROUPS]

    def weight_parameters(self) -> list[nn.Parameter]:
        alphas = {id(a) for a in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in alphas]

    def logits(self, group: str) -> torch.Tensor:
        return self.alphas[group].masked_fill(getattr(self, f"banned_{group}"), float("-inf"))

    def logit_groups(self) -> dict[str, torch.Tensor]:
        return {g: self.logits(g) for g in GROUPS}

    def skip_column(self, group: str) -> int | None:
        return SKIP if group == "op" else None

    def alpha_labels(self, group: str) -> tuple[list[str], list[str]]:
        return [f"layer {i + 1}" for i in range(self.space.depth)], self.space.choices(group)

    def forward(self, x: torch.Tensor, detach_alphas: bool = False) -> torch.Tensor:
        probs = {g: F.softmax(self.logits(g), -1) for g in GROUPS}
        if detach_alphas:
            probs = {g: p.detach() for g, p in probs.items()}
        widths = probs["width"] @ self.width_masks  # (depth, widest) expected channel masks
        if self.input_bn is not None:
            x = self.input_bn(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, probs["op"][i], widths[i], probs["stride"][i])
        return self.classifier(x.mean(-1))

    def genotype(self, max_skip: int | None = None) -> Chain:
        """The derived chain (``max_skip`` is the cell space's; a chain's skips remove layers)."""
        return derive_chain(self.space, {g: self.logits(g).detach() for g in GROUPS})
