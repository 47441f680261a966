"""Memory model of a fixed network on the MCU: flash for the int8 model, SRAM for one inference.

Flash = int8 weights (1 B) + int32 biases (4 B, one per output channel after BN folding) + a stated
``LAYER_OVERHEAD_BYTES`` per Conv/Gemm layer (layer descriptor, shapes, requantisation shift).
Pools, ReLU, concat and global pooling hold no parameters and are counted as code, not model.

SRAM = the int8 input buffer (C x L bytes, owned by the application, alive all inference) + the peak,
over the execution order of ``FixedNet.forward``, of int8 activation bytes alive at once. A tensor
lives from the step that writes it to the last step that reads it; every step holds its inputs and
its output together (no in-place ops), so a cell holds state 0 while later nodes still read it, and
the concat holds its inputs and its output. An identity ``skip_connect`` writes nothing (an alias).

``smallest_genotype`` is the network of a preset that needs the least flash AND the least SRAM, used
to refuse a preset up front; ``ExpectedMemory`` is the differentiable estimate the budget hinge
pushes during the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .chain import Chain
from .genotype import CELL_TYPES, Genotype
from .cost import op_layer
from .layout import STEM_KERNEL, NetShape, edge_list, edge_stride, stem_channels
from .ops import OPS, PRIMITIVES

WEIGHT_BYTES, BIAS_BYTES, ACTIVATION_BYTES = 1, 4, 1
LAYER_OVERHEAD_BYTES = 32


@dataclass(frozen=True)
class Memory:
    flash_bytes: int
    sram_bytes: int
    weights: int  # int8 weight values
    biases: int  # int32 bias values
    layers: int  # Conv + Gemm layers (each pays LAYER_OVERHEAD_BYTES)
    input_bytes: int  # the input buffer inside sram_bytes
    peak_step: str  # where the activation peak happens

    def as_dict(self) -> dict:
        return {**self.__dict__, "flash_kb": self.flash_bytes / 1024, "sram_kb": self.sram_bytes / 1024,
                "layer_overhead_bytes": LAYER_OVERHEAD_BYTES}


def op_writes_tensor(op: str, stride: int) -> bool:
    """False only for the identity skip, whose output is its input buffer."""
    return not (OPS[op].kind == "skip" and stride == 1)


def flash_of(layers: list[tuple[int, int]]) -> int:
    return sum(w * WEIGHT_BYTES + b * BIAS_BYTES + LAYER_OVERHEAD_BYTES for w, b in layers)


class _Trace:
    """Buffers and the steps that read and write them, in execution order."""

    def __init__(self):
        self.sizes: list[int] = []
        self.steps: list[tuple[str, list[int], int]] = []

    def buffer(self, size: int) -> int:
        self.sizes.append(size)
        return len(self.sizes) - 1

    def step(self, name: str, inputs: list[int], size: int) -> int:
        out = self.buffer(size)
        self.steps.append((name, sorted(set(inputs)), out))
        return out

    def peak(self, pinned: set[int]) -> tuple[int, str]:
        """Largest sum of live buffer bytes over the steps (``pinned`` buffers never die)."""
        birth = {out: i for i, (_, _, out) in enumerate(self.steps)}
        death = dict(birth)
        for i, (_, inputs, _) in enumerate(self.steps):
            for b in inputs:
                death[b] = i
        best = (0, "")
        for i, (name, _, _) in enumerate(self.steps):
            live = sum(s for b, s in enumerate(self.sizes)
                       if b not in pinned and birth.get(b, -1) <= i <= death.get(b, -1))
            if live > best[0]:  # the first step at the peak
                best = (live, name)
        return best


def network_memory(genotype: Genotype, shape: NetShape) -> Memory:
    stem = stem_channels(shape.spec)
    layers = [(shape.channels * stem * STEM_KERNEL, stem)]
    trace = _Trace()
    x = trace.buffer(shape.channels * shape.length * ACTIVATION_BYTES)
    s = trace.step("stem", [x], stem * shape.length * ACTIVATION_BYTES)
    for i, cell in enumerate(shape.cells(genotype)):
        p, concat = cell.plan, cell.concat
        layers.append((p.c_in * p.c, p.c))
        states = {0: trace.step(f"cell {i} preprocess", [s], p.c * p.length_in * ACTIVATION_BYTES)}
        for k in cell.live:
            op, src = cell.nodes[k - 1]
            stride = edge_stride(p.reduction, src)
            if (layer := op_layer(op, p.c, stride)) is not None:
                layers.append(layer)
            if op_writes_tensor(op, stride):
                states[k] = trace.step(f"cell {i} node {k}", [states[src]], p.c * p.source_length(k) * ACTIVATION_BYTES)
            else:
                states[k] = states[src]
        s = trace.step(f"cell {i} concat", [states[k] for k in concat], p.c_out * p.length_out * ACTIVATION_BYTES)
    c_last, classes = cell.plan.c_out, shape.classes  # the last cell's
    pooled = trace.step("global pool", [s], c_last * ACTIVATION_BYTES)
    trace.step("classifier", [pooled], classes * ACTIVATION_BYTES)
    layers.append((c_last * classes, classes))
    peak, where = trace.peak(pinned={x})
    input_bytes = trace.sizes[x]
    return Memory(flash_of(layers), peak + input_bytes, sum(w for w, _ in layers), sum(b for _, b in layers),
                  len(layers), input_bytes, where)


def chain_memory(chain: Chain, shape: NetShape) -> Memory:
    """A chain runs layer after layer: each step holds its input and its output; flatten is an alias."""
    layers, trace = [], _Trace()
    x = trace.buffer(shape.channels * shape.length * ACTIVATION_BYTES)
    s = x
    for i, placed in enumerate(chain.place(shape.channels, shape.length)):
        layers += placed.convs()
        if placed.layer.kind == "dwsep":  # the depthwise output is a buffer of its own
            s = trace.step(f"layer {i + 1} depthwise", [s], placed.c_in * placed.length_out * ACTIVATION_BYTES)
        s = trace.step(f"layer {i + 1} {placed.layer}", [s], placed.c_out * placed.length_out * ACTIVATION_BYTES)
    features, classes = chain.head_features(shape.channels, shape.length), shape.classes
    if chain.head == "gap":
        s = trace.step("global pool", [s], features * ACTIVATION_BYTES)
    trace.step("classifier", [s], classes * ACTIVATION_BYTES)
    layers.append((features * classes, classes))
    peak, where = trace.peak(pinned={x})
    input_bytes = trace.sizes[x]
    return Memory(flash_of(layers), peak + input_bytes, sum(w for w, _ in layers), sum(b for _, b in layers),
                  len(layers), input_bytes, where)


def smallest_memory(shape: NetShape) -> Memory:
    return network_memory(smallest_genotype(shape.spec.nodes_per_layer, shape.spec.fanout_concat), shape)


def smallest_genotype(nodes: int, fanout: int) -> Genotype:
    """The least flash and the least SRAM any genotype of the space can have.

    Flash: pools and identity skips have no parameters. SRAM: the preprocess step is the same for
    every genotype, and a concat holds its output plus at least one node buffer; here every node of
    a normal cell aliases state 0, and in a reduction cell node 1 (which must read state 0 at
    stride 2) is a max pool that every other node aliases, so each concat holds exactly one buffer.
    """
    concat = list(range(nodes - fanout + 1, nodes + 1))
    normal = [("skip_connect", 0)] * nodes
    reduce = [("max_pool_3x1", 0)] + [("skip_connect", 1)] * (nodes - 1)
    return Genotype(normal=normal, reduce=reduce, normal_concat=concat, reduce_concat=concat)


class ExpectedMemory:
    """Differentiable flash and SRAM estimates of the network the supernet would derive.

    Flash: like ``ExpectedCost``, each node's op flash weighted by softmax over the non-``none``
    alphas and averaged over its candidate inputs, plus the flash every network pays. SRAM: for
    each cell, the concat step (the usual peak) holds the output plus every concat node's buffer
    unless the node is an identity alias (expected probability of a unit-stride skip), compared with
    the genotype-independent preprocess step; the network value is the max over steps plus the input
    buffer. This is a surrogate to steer the search: the verdict uses ``network_memory``.
    """

    def __init__(self, shape: NetShape):
        spec = shape.spec
        self.plans = shape.plans()
        base = smallest_memory(shape)
        self.flash_constant = float(base.flash_bytes)
        self.input_bytes = float(base.input_bytes)
        self.fixed_sram = float(stem_channels(spec) * shape.length * ACTIVATION_BYTES)  # the stem step
        nodes, fanout, edges = spec.nodes_per_layer, spec.fanout_concat, edge_list(spec.nodes_per_layer)
        # alpha rows of the edges into each concatenated node, for the SRAM surrogate
        self.concat_rows = [[r for r, (_, d) in enumerate(edges) if d == k] for k in range(nodes - fanout + 1, nodes + 1)]
        size = (len(edges), len(PRIMITIVES) - 1)
        self.flash = {t: torch.zeros(size) for t in CELL_TYPES}
        self.alias = {t: torch.zeros(size) for t in CELL_TYPES}  # 1 / inputs where (edge, op) is an identity alias
        for slot in shape.edge_slots():
            layer = op_layer(slot.op, slot.plan.c, slot.stride)
            self.flash[slot.cell_type][slot.row, slot.col] += 0.0 if layer is None else flash_of([layer]) / slot.node
            self.alias[slot.cell_type][slot.row, slot.col] = 0.0 if op_writes_tensor(slot.op, slot.stride) else 1.0 / slot.node

    def __call__(self, alphas: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(expected flash bytes, expected SRAM bytes)."""
        probs = {t: torch.softmax(a[:, 1:], dim=-1) for t, a in alphas.items()}
        any_alpha = next(iter(alphas.values()))
        flash = any_alpha.new_tensor(self.flash_constant)
        for t, p in probs.items():
            flash = flash + (p * self.flash[t].to(p.device)).sum()
        steps = [any_alpha.new_tensor(self.fixed_sram)]
        for t, p in probs.items():
            alias = (p * self.alias[t].to(p.device)).sum(-1)  # per edge, already divided by the node's inputs
            p_alias = torch.stack([alias[rows].sum() for rows in self.concat_rows])
            for plan in self.plans:
                if plan.reduction != (t == "reduce"):
                    continue
                node_bytes = plan.c * plan.length_out * ACTIVATION_BYTES
                concat = plan.c_out * plan.length_out * ACTIVATION_BYTES + node_bytes * (1 - p_alias).sum()
                preprocess = (plan.c_in + plan.c) * plan.length_in * ACTIVATION_BYTES
                steps.append(torch.maximum(concat, any_alpha.new_tensor(float(preprocess))))
        return flash, torch.stack(steps).max() + self.input_bytes
