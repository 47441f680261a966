"""Latency on the target MCU: cycles per operation class plus a per-inference overhead, divided by the
clock. Each device's coefficients (``latency:`` in conf/device/*.yaml) are fitted to TI's published
inference times by ``experiments/fit_latency.py`` (``latency_fit.py``); a device TI published none for
copies the coefficients of the closest measured one (``extrapolated_from``) at its own clock.

Operation classes: ``conv`` (per Conv MAC: on the NPU on NPU devices, in software otherwise),
``linear`` (per Linear MAC), ``pool`` (per pooling window tap), ``move`` (per element a concat copies,
which even NPU devices run on the CPU: TI's NPU layer list has no Concat/Add). Linear in the counts of
``Cost``, so the expected latency over softmax(alpha) is exact for the expected counts (``add_metric``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .errors import UserInputError
from .search_space.cost import Cost, ExpectedCost

if TYPE_CHECKING:
    from .search_space.chain_cost import ExpectedChainCost

LATENCY_METRIC = "latency_us"


@dataclass
class LatencyConfig:
    clock_mhz: Optional[float] = None  # the clock the cycles are divided by; null: no latency model (host)
    overhead_cycles: float = 0.0  # per inference: runtime entry, input copy, the layers' fixed set-up
    conv_cycles: float = 0.0  # per Conv MAC
    linear_cycles: float = 0.0  # per Linear MAC
    pool_cycles: float = 0.0  # per pooling window tap
    move_cycles: float = 0.0  # per element copied by a concat
    extrapolated_from: Optional[str] = None  # the measured device whose cycles these are; null: fitted here
    source: str = ""  # where the numbers come from (said in the report)

    def __post_init__(self) -> None:
        if self.clock_mhz is not None and self.clock_mhz <= 0:
            raise UserInputError(f"device.latency.clock_mhz={self.clock_mhz}: must be > 0 or null (no latency model)")
        for key in ("overhead_cycles", "conv_cycles", "linear_cycles", "pool_cycles", "move_cycles"):
            if getattr(self, key) < 0:
                raise UserInputError(f"device.latency.{key}={getattr(self, key)}: must be >= 0")

    @property
    def known(self) -> bool:
        return self.clock_mhz is not None

    def coefficients_us(self) -> dict[str, float]:
        """Microseconds per unit of each ``Cost`` field (``macs`` holds conv + linear MACs)."""
        return {"macs": self.conv_cycles / self.clock_mhz,
                "linear_macs": (self.linear_cycles - self.conv_cycles) / self.clock_mhz,
                "pool_reads": self.pool_cycles / self.clock_mhz, "moved": self.move_cycles / self.clock_mhz}

    def estimate_us(self, cost: Cost) -> float:
        return self.overhead_cycles / self.clock_mhz + sum(c * getattr(cost, m) for m, c in self.coefficients_us().items())

    def add_to(self, expected: ExpectedCost | ExpectedChainCost) -> None:
        """Give ``expected`` (either space's) the metric ``latency_us`` (what ``mode=Latency`` penalises)."""
        expected.add_metric(LATENCY_METRIC, self.coefficients_us(), self.overhead_cycles / self.clock_mhz)

    def report(self, cost: Cost, device: str) -> dict:
        """The latency part of report.json's ``device`` block."""
        if not self.known:
            return {"latency_us": None, "latency_basis": f"{device}: no latency model (not an MCU TI published "
                                                          "inference times for)"}
        basis = (f"extrapolated from {self.extrapolated_from}'s fitted cycles at {device}'s {self.clock_mhz:g} MHz "
                 "(TI published no measurement for this device)" if self.extrapolated_from else
                 f"fitted to TI's published measurements on {device} ({self.source})")
        return {"latency_us": round(self.estimate_us(cost), 1), "latency_extrapolated": self.extrapolated_from is not None,
                "latency_from": self.extrapolated_from or device, "latency_basis": basis}
