"""One architecture record for every model kind the stages pass on: a cell ``Genotype`` (the DARTS
space, the FCN baseline) or a ``Chain`` (TI's standard models). The functions here are the one place
that tells them apart: build the network, count its cost and memory, read it from JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from torch import nn

from .chain import Chain
from .chain_net import ChainNet
from .cost import Cost, chain_cost, fixed_net_cost
from .genotype import Genotype, read_record
from .layout import NetShape
from .memory import Memory, chain_memory, network_memory
from .network import FixedNet

Architecture = Union[Genotype, Chain]


def build_net(arch: Architecture, shape: NetShape) -> nn.Module:
    """The trainable 1-D network (``.twin()`` gives its 2-D export copy)."""
    return ChainNet(arch, shape) if isinstance(arch, Chain) else FixedNet(arch, shape)


def arch_cost(arch: Architecture, shape: NetShape) -> Cost:
    return chain_cost(arch, shape) if isinstance(arch, Chain) else fixed_net_cost(arch, shape)


def arch_memory(arch: Architecture, shape: NetShape) -> Memory:
    return chain_memory(arch, shape) if isinstance(arch, Chain) else network_memory(arch, shape)


def arch_from_dict(data: object, source: str = "genotype") -> Architecture:
    """``{"kind": "chain", ...}`` is a chain; anything else is read as a cell genotype."""
    if isinstance(data, dict) and data.get("kind") == "chain":
        return Chain.from_dict(data, source)
    return Genotype.from_dict(data, source)


def load_architecture(path: str | Path) -> Architecture:
    return arch_from_dict(read_record(path), source=f"genotype={path}")
