"""TI's standard generic time-series classifiers (tinyml-modelzoo ``CNN_TS_GEN_BASE_*_NPU``) as chains:
the models a user could type in instead of searching (``model=cls_1k_npu``), and the references the
select stage scores a searched network against. Facts from TI's layer specs, rebuilt here: input BN,
conv-BN-ReLU with biased convs, max pools, global average pooling → Linear (55k: flatten → Linear).
"""

from __future__ import annotations

from .chain import Chain, Layer


def c(out: int, kernel: int, stride: int) -> Layer:
    return Layer("conv", kernel, stride, out)


def p(kernel: int, stride: int) -> Layer:
    return Layer("max_pool", kernel, stride)


_LAYERS = {
    "cls_500_npu": ([c(8, 5, 1), c(16, 3, 1)], "gap"),
    "cls_1k_npu": ([c(8, 5, 1), c(8, 5, 1), p(3, 2), c(16, 3, 1)], "gap"),
    "cls_4k_npu": ([c(8, 5, 2), c(8, 3, 1), p(3, 2), c(16, 5, 2), c(32, 5, 2)], "gap"),
    "cls_13k_npu": ([c(8, 5, 2), c(16, 3, 2), c(16, 3, 1), c(32, 3, 2), c(32, 3, 1), c(64, 3, 2)], "gap"),
    "cls_55k_npu": ([c(8, 5, 2), c(8, 5, 2), p(4, 4), c(16, 5, 1), c(16, 5, 2), p(4, 2), c(32, 5, 1), c(32, 3, 1),
                     p(4, 2), c(64, 5, 1), p(4, 2), c(64, 5, 1), p(2, 2), c(64, 3, 1)], "flatten"),
}
STANDARD_MODELS: tuple[str, ...] = tuple(_LAYERS)


def standard_model(name: str) -> Chain:
    layers, head = _LAYERS[name]
    return Chain(list(layers), input_bn=True, head=head, meta={"model": name})
