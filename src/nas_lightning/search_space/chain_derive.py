"""Alphas ⇄ chain genotypes of ``space=chain``.

``derive_chain``: per layer the most probable allowed op and stride, and the allowed width nearest the expected
width (the width the resource penalty priced: an argmax width can be 32 where the search paid for ~12, and the
derived chain's cost then is not the one the search traded accuracy for); skipped layers drop out.
If the strides would leave fewer than ``space.min_length`` samples for the head, the strided layers
the alphas were least sure of are set back to stride 1 until they do (the NPU's global pool needs > 2).
``chain_logits`` is the inverse, one-hot logits that derive a given chain: it proves a chain (TI's
standard models) is a genotype of the space, and gives the supernet's cost at that genotype.
"""

from __future__ import annotations

import torch

from .chain import Chain, Layer
from .chain_space import CHAIN_OPS, GROUPS, OP_NAMES, STRIDES, ChainSpace

ONE_HOT_LOW = -1e9  # softmax gives exactly 0 here in float32


def derive_chain(space: ChainSpace, logits: dict[str, torch.Tensor]) -> Chain:
    """``logits``: by group (op, width, stride), (depth, choices), banned choices at -inf."""
    probs = {g: torch.softmax(logits[g].detach().float(), -1) for g in GROUPS}
    picks = {g: probs[g].argmax(-1).tolist() for g in ("op", "stride")}
    widths = torch.tensor([float(w) for w in space.widths])
    distance = (probs["width"] @ widths)[:, None] - widths  # from the expected width, the one the penalty priced
    picks["width"] = distance.abs().masked_fill(space.banned("width"), float("inf")).argmin(-1).tolist()
    kept: list[tuple[int, Layer]] = []
    for i in range(space.depth):
        op = CHAIN_OPS[OP_NAMES[picks["op"][i]]]
        if op.kind != "skip":
            kept.append((i, op.layer(space.widths[picks["width"][i]], STRIDES[picks["stride"][i]])))
    layers = [layer for _, layer in kept]
    while space.final_length(layers) < space.min_length:
        strided = [(probs["stride"][i, 1].item(), k) for k, (i, _) in enumerate(kept) if layers[k].stride > 1]
        if not strided:
            break  # too short even unstrided: the input itself is shorter than the head needs
        _, k = min(strided)
        layers[k] = Layer(**{**layers[k].__dict__, "stride": 1})
    return Chain(layers, input_bn=space.input_bn, head="gap")


def _op_name(layer: Layer) -> str:
    for name, op in CHAIN_OPS.items():
        if (op.kind, op.kernel, op.dilation) == (layer.kind, layer.kernel, layer.dilation):
            return name
    raise ValueError(f"layer {layer} is no op of space=chain")


def chain_logits(space: ChainSpace, chain: Chain) -> dict[str, torch.Tensor]:
    """One-hot logits whose derivation is ``chain``: its layers in order, the last one on the space's last
    layer, skips between. ValueError when the chain is not a genotype of the space."""
    layers = chain.layers
    if len(layers) > space.depth or chain.head != "gap" or chain.input_bn != space.input_bn:
        raise ValueError(f"{chain} does not fit space=chain of depth {space.depth} (gap head, input_bn={space.input_bn})")
    if len(layers) < 2 <= space.depth:
        raise ValueError(f"{chain}: space=chain's first and last layers are both layers: two at least")
    rows = list(range(len(layers) - 1)) + [space.depth - 1]
    logits = {g: torch.full((space.depth, len(space.choices(g))), ONE_HOT_LOW) for g in GROUPS}
    for g in GROUPS:
        logits[g][:, 0] = 0  # unused rows: skip (below), the first width and stride 1
    logits["op"][:, 0] = ONE_HOT_LOW
    logits["op"][:, OP_NAMES.index("skip")] = 0
    for row, layer in zip(rows, layers):
        name = _op_name(layer)
        if name not in space.allowed_ops(row):
            raise ValueError(f"{layer} is not allowed at layer {row + 1} of space=chain")
        if layer.kind != "max_pool" and layer.out not in space.widths:
            raise ValueError(f"{layer}: width {layer.out} is not one of {space.widths}")
        logits["op"][row] = ONE_HOT_LOW
        logits["op"][row, OP_NAMES.index(name)] = 0
        if layer.kind != "max_pool":
            logits["width"][row] = ONE_HOT_LOW
            logits["width"][row, space.widths.index(layer.out)] = 0
        logits["stride"][row] = ONE_HOT_LOW
        logits["stride"][row, STRIDES.index(layer.stride)] = 0
    for g in GROUPS:
        logits[g] = logits[g].masked_fill(space.banned(g), float("-inf"))
    return logits


def random_logits(space: ChainSpace, rng) -> dict[str, torch.Tensor]:
    """One-hot logits on a uniformly drawn allowed op, width and stride per layer (``rng``: random.Random):
    a random genotype of the space is ``derive_chain`` of them."""
    logits = {}
    for g in GROUPS:
        banned = space.banned(g)
        rows = torch.full(banned.shape, ONE_HOT_LOW)
        for i in range(space.depth):
            rows[i, rng.choice([j for j in range(banned.shape[1]) if not banned[i, j]])] = 0
        logits[g] = rows.masked_fill(banned, float("-inf"))
    return logits
