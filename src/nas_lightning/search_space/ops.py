"""The one registry of candidate operations.

Each primitive is described once (``OpSpec``): its kind and kernel. From that description
``build_op`` makes the module for the fixed network, the supernet reads kernels and kinds to run
its fused edges, and the cost model counts parameters and MACs. Modules work on (N, C, L) with
``dims=1`` (training) or on TI's (N, C, L, 1) layout with (k, 1) kernels when ``dims=2`` (export).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class OpSpec:
    kind: str  # "none" | "avg_pool" | "max_pool" | "skip" | "conv"
    kernel: int = 1


OPS: dict[str, OpSpec] = {
    "none": OpSpec("none"),
    "avg_pool_3x1": OpSpec("avg_pool", 3),
    "max_pool_3x1": OpSpec("max_pool", 3),
    "skip_connect": OpSpec("skip"),
    "conv_bn_relu_3x1": OpSpec("conv", 3),
    "conv_bn_relu_5x1": OpSpec("conv", 5),
    "conv_bn_relu_7x1": OpSpec("conv", 7),
}
PRIMITIVES: list[str] = list(OPS)
POOL_KINDS = ("avg_pool", "max_pool")


def _kernel(k: int, dims: int):
    return k if dims == 1 else (k, 1)


def conv(c_in: int, c_out: int, k: int, stride: int = 1, dims: int = 1, bias: bool = False) -> nn.Module:
    """Conv with 'same' padding along the time axis (kernel (k, 1) in 2-D)."""
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    pad = k // 2 if dims == 1 else (k // 2, 0)
    return cls(c_in, c_out, _kernel(k, dims), stride=_kernel(stride, dims), padding=pad, bias=bias)


def batch_norm(c: int, dims: int = 1, affine: bool = True) -> nn.Module:
    """``affine=False`` is the search-time BN: no scale/shift and always batch statistics, because
    running averages lag far behind weights that change every step and make validation noise."""
    return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(c, affine=affine, track_running_stats=affine)


def pool(kind: str, k: int, stride: int, dims: int = 1) -> nn.Module:
    pad = k // 2 if dims == 1 else (k // 2, 0)
    if kind == "avg_pool":
        cls = nn.AvgPool1d if dims == 1 else nn.AvgPool2d
        return cls(_kernel(k, dims), _kernel(stride, dims), pad, count_include_pad=False)
    cls = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
    return cls(_kernel(k, dims), _kernel(stride, dims), pad)


def conv_bn(
    c_in: int, c_out: int, k: int, stride: int = 1, dims: int = 1, relu: bool = True, affine: bool = True
) -> nn.Sequential:
    """Conv → BN (→ ReLU). The supernet uses ``affine=False`` (DARTS: no BN scale to search)."""
    layers = [conv(c_in, c_out, k, stride, dims), batch_norm(c_out, dims, affine)]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def build_op(name: str, channels: int, stride: int, dims: int = 1) -> nn.Module:
    """Module for primitive ``name`` mapping ``channels`` to ``channels`` at ``stride``.

    A strided skip cannot be an identity, so it becomes a 1x1 conv + BN (no ReLU).
    """
    spec = OPS[name]
    if spec.kind == "none":
        raise ValueError("'none' is never part of a fixed network")
    if spec.kind in POOL_KINDS:
        return pool(spec.kind, spec.kernel, stride, dims)
    if spec.kind == "skip":
        return nn.Identity() if stride == 1 else conv_bn(channels, channels, 1, stride, dims, relu=False)
    return conv_bn(channels, channels, spec.kernel, stride, dims)


def out_length(length: int, stride: int) -> int:
    """Output length of every op here: 'same' padding, so ceil(L / stride)."""
    return -(-length // stride)
