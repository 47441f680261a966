"""What ``device=…`` promises: the search space fits its NPU, the preset can fit its memory, and the
exported model is judged against both (the fit verdict; summary.py words it).

Choices: on NPU devices ``init_channels`` is rounded up to a multiple of 4, which makes every
channel count of the layout a multiple of 4 (stem = multiplier x init, cells double it, concat
multiplies it by the fan-out). Multi-variable inputs meet the NPU's "first conv: 1 input channel,
kernel width <= 8" by exporting the input as (N, 1, L, C) with a (3, C) stem kernel (the same
arithmetic as a 1-D conv over C channels), so at most 8 variables are accepted on NPU devices.
Local average pooling is removed from the NPU search (the NPU pools averages only globally). In
``space=chain`` the NPU bans dilated convs, asks the head for >= 16 features and the global pool for
> 2 samples (``chain_space``).

``Device`` is built once per run from ``device=…`` and holds every rule the run applies for it.

Memory by construction: a preset whose smallest network is over budget is refused before the
search; the search carries a hinge on expected flash/SRAM (``MemoryBudget`` in modules/alpha_terms.py); and a searched
genotype still over the flash has its convs stepped down (``repair_flash``). SRAM is set mostly by
the preset (channels x length x fan-out), so it is guarded up front and by the hinge only.
"""

from __future__ import annotations

import math

from .config import DeviceConfig, SpaceConfig
from .config_files import group_options, preset_option
from .errors import UserInputError
from .search_space.cost import Cost
from .search_space.chain_presets import chain_size
from .search_space.chain_space import ChainSpace, widths_up_to
from .search_space.genotype import Genotype
from .search_space.layout import MacroSpec, NetShape
from .search_space.memory import Memory, network_memory, smallest_memory

NPU_CHANNEL_MULTIPLE = 4
NPU_MAX_VARIABLES = 8  # first conv kernel width <= 8
NPU_BANNED_OPS = ["avg_pool_3x1"]  # the NPU runs average pooling only as a global pool
NPU_BANNED_CHAIN_OPS = ("dil_conv_3",)  # TI's NPU conv rules list kernels, strides and groups, no dilation
NPU_MIN_FC_FEATURES = 16  # fully connected layers take >= 16 inputs (8-bit)
NPU_MIN_POOL_LENGTH = 3  # global average pooling over H x W > 2
KB = 1024


def npu_spec(spec: MacroSpec) -> tuple[MacroSpec, dict]:
    """``spec`` with init_channels rounded up to a multiple of 4; changes as {key: [old, new]}."""
    c = spec.init_channels
    rounded = math.ceil(c / NPU_CHANNEL_MULTIPLE) * NPU_CHANNEL_MULTIPLE
    if rounded == c:
        return spec, {}
    return MacroSpec(**{**spec.__dict__, "init_channels": rounded}), {"init_channels": [c, rounded]}


CHEAPER = {"conv_bn_relu_7x1": "conv_bn_relu_5x1", "conv_bn_relu_5x1": "conv_bn_relu_3x1",
           "conv_bn_relu_3x1": "max_pool_3x1"}


class Device:
    def __init__(self, cfg: DeviceConfig):
        self.cfg = cfg
        self.limits = {"flash": None if cfg.flash_kb is None else cfg.flash_kb * KB,
                       "sram": None if cfg.sram_kb is None else cfg.sram_kb * KB}
        self.banned_ops: tuple[str, ...] = tuple(NPU_BANNED_OPS) if cfg.has_npu else ()  # masked out of the search

    def chain_space(self, space: SpaceConfig, preset: str, shape: NetShape) -> ChainSpace:
        """``space=chain`` for this preset and data, under this device's rules."""
        depth, widest = chain_size(preset, space.depth, space.widest)
        npu = self.cfg.has_npu
        return ChainSpace(shape.channels, shape.length, shape.classes, depth, widths_up_to(widest), space.input_bn,
                          NPU_BANNED_CHAIN_OPS if npu else (), NPU_MIN_FC_FEATURES if npu else 1,
                          NPU_MIN_POOL_LENGTH if npu else 1)

    def fit_spec(self, spec: MacroSpec) -> tuple[MacroSpec, dict]:
        """The layout this device can run (NPU: channels rounded up) and what changed, {key: [old, new]}."""
        return npu_spec(spec) if self.cfg.has_npu else (spec, {})

    def check_input(self, channels: int) -> None:
        if self.cfg.has_npu and channels > NPU_MAX_VARIABLES:
            raise UserInputError(
                f"device={self.cfg.name}: the NPU's first conv takes at most {NPU_MAX_VARIABLES} variables (kernel "
                f"width <= 8) but the data has {channels}; set data.variables={NPU_MAX_VARIABLES} or pick a device "
                "without NPU"
            )

    def over(self, memory: Memory) -> list[str]:
        used = {"flash": memory.flash_bytes, "sram": memory.sram_bytes}
        return [k for k, limit in self.limits.items() if limit is not None and used[k] > limit]

    def check_preset_can_fit(self, preset_name: str, shape: NetShape) -> Memory:
        """Refuse, before searching, a preset whose smallest network is over the device's memory; the
        message proposes the largest preset whose smallest network fits."""
        low = smallest_memory(shape)
        over = self.over(low)
        if not over:
            return low
        fitting = []
        for name in group_options("preset"):
            if name in ("custom", preset_name):
                continue
            candidate, _ = self.fit_spec(MacroSpec.from_config(preset_option(name)))
            m = smallest_memory(shape.with_spec(candidate))
            if not self.over(m) and m.flash_bytes < low.flash_bytes:
                fitting.append((m.flash_bytes + m.sram_bytes, name))
        need = ", ".join(f"{k} {getattr(low, k + '_bytes') / KB:.1f}/{getattr(self.cfg, k + '_kb'):g} KB" for k in over)
        advice = f"try preset={max(fitting)[1]}" if fitting else "no preset fits: shorten data.frame_size or use fewer data.variables"
        raise UserInputError(f"preset={preset_name} cannot fit device={self.cfg.name}: even its smallest network needs "
                             f"{need}; {advice}")

    def budget_terms(self, weight: float, target: float, shape: NetShape) -> list:
        """The memory-budget hinge for the alpha step, on devices with a stated flash or SRAM."""
        from .modules.alpha_terms import MemoryBudget
        from .search_space.memory import ExpectedMemory

        if all(v is None for v in self.limits.values()):
            return []
        return [MemoryBudget(ExpectedMemory(shape), self.limits["flash"], self.limits["sram"], weight, target)]

    def repair_flash(self, genotype: Genotype, shape: NetShape) -> tuple[Genotype, list[str]]:
        """The searched genotype, with convs stepped down (7 -> 5 -> 3 -> max pool), the one saving the
        most flash first, until it fits the device's flash: the guarantee behind the search's hinge.
        Returns the genotype and one line per change (empty when it already fitted)."""
        limit = self.limits["flash"]
        changes: list[str] = []

        def flash(g: Genotype) -> int:
            return network_memory(g, shape).flash_bytes

        current = flash(genotype)
        while limit is not None and current > limit:
            options = []
            for t in ("normal", "reduce"):
                nodes = list(genotype.cell(t)[0])
                for k, (op, src) in enumerate(nodes):
                    if op in CHEAPER:
                        candidate = Genotype(**{**genotype.__dict__, t: nodes[:k] + [(CHEAPER[op], src)] + nodes[k + 1:]})
                        options.append((flash(candidate), f"{t} node {k + 1}: {op} -> {CHEAPER[op]}", candidate))
            if not options:
                break  # nothing left to shrink: the verdict reports it
            current, change, genotype = min(options, key=lambda o: o[0])
            changes.append(change)
        return genotype, changes

    def verdict(self, memory: Memory, npu: dict | None, preset_changes: dict, cost: Cost) -> dict:
        """The ``device`` block of report.json; ``ok`` is False when the model is over memory or breaks
        an NPU rule (the run then exits 3, keeping its artifacts). The estimated latency is information,
        not part of ``ok``: only a ``target.latency_us`` makes it a goal."""
        d, over = self.cfg, self.over(memory)
        report = {
            "name": d.name, "family": d.family, "core": d.core, "clock_mhz": d.clock_mhz, "has_npu": d.has_npu,
            "flash_kb": d.flash_kb, "sram_kb": d.sram_kb, "note": d.note,
            "flash_share": None if self.limits["flash"] is None else memory.flash_bytes / self.limits["flash"],
            "sram_share": None if self.limits["sram"] is None else memory.sram_bytes / self.limits["sram"],
            "over": over, "preset_changes": preset_changes, **d.latency.report(cost, d.name),
        }
        if npu is not None:
            report["npu"] = npu
        report["ok"] = not over and not (npu and npu["violations"])
        return report
