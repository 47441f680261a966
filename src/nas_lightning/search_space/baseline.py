"""The hand-designed baseline: a plain stacked 1-D CNN expressed as a genotype, so it is built,
trained, costed and exported by exactly the same code as a searched network (a fair comparison).

Every node is a 3-wide conv on the previous node and only the last node leaves the cell, so with
the preset's macro layout this is stem → (1x1 conv, ``nodes`` x conv3) per cell, stride 2 in the
reduction cells → global average pool → linear: the usual small time-series CNN.
"""

from __future__ import annotations

from .genotype import Genotype

BASELINE_OP = "conv_bn_relu_3x1"


def baseline_genotype(nodes: int) -> Genotype:
    chain = [(BASELINE_OP, k) for k in range(nodes)]
    return Genotype(normal=chain, reduce=chain, normal_concat=[nodes], reduce_concat=[nodes],
                    meta={"model": "baseline"})
