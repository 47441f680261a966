"""The hand-designed baseline: the FCN of the time-series literature (Wang et al. 2017; Fawaz et al.
2019: three convolutions of kernel 7, 5 and 3 with BN and ReLU, global average pooling, linear),
expressed as a genotype on its own three-layer macro so it is built, trained, costed and exported
by exactly the same code as a searched network (a fair comparison).

With one node per cell and the macro's reductions at layers 1 and 2, this is stem → conv7 (width
w) → conv5 stride 2 (2w) → conv5 stride 2 (4w), each after the cell's 1x1 conv → pool → linear:
the FCN's kernels and widening, with strides that keep it cheap on long series.
"""

from __future__ import annotations

from .genotype import Genotype
from .layout import MacroSpec

BASELINE_NORMAL, BASELINE_REDUCE = "conv_bn_relu_7x1", "conv_bn_relu_5x1"


def baseline_spec(width: int) -> MacroSpec:
    return MacroSpec(layers=3, nodes_per_layer=1, init_channels=width, init_channel_multiplier=1, fanout_concat=1)


def baseline_genotype(width: int = 8) -> Genotype:
    """``meta`` names the model and its width, so a saved baseline (model.json) is rebuilt on its own macro."""
    return Genotype(normal=[(BASELINE_NORMAL, 0)], reduce=[(BASELINE_REDUCE, 0)], normal_concat=[1],
                    reduce_concat=[1], meta={"model": "baseline", "width": width})


def saved_baseline_width(genotype) -> int | None:
    """The width of a baseline read back from a file, or None for any other architecture."""
    meta = getattr(genotype, "meta", {})
    return int(meta.get("width", 8)) if meta.get("model") == "baseline" else None
