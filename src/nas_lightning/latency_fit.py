"""Fit each device's latency coefficients (latency.py) to TI's published measurements and judge the fit by
leaving one architecture out; the same table for the memory model's flash and SRAM. Used by
``experiments/fit_latency.py`` (prints the table, rewrites the device YAMLs) and by its test.

What the public data allows (experiments/data, from TexasInstruments/tinyml-tensorlab @ca0ef47):
- 9 distinct networks (FanImbalance_k is MotorFault_k: same network, same numbers, counted once).
- Layers are public for CLS_1k/CLS_6k only; the ArcFault/MotorFault networks publish params and MACs (at
  input 512; the measurements are at 256, so MACs are halved: conv MACs scale with the length).
  Their pool and Linear work is unknown, so the fit identifies two numbers per device: the
  per-inference overhead and the cycles per MAC. Pool taps and Linear MACs are charged at the conv
  MAC rate (one load-and-compare or one MAC each, in software and on the NPU alike), and a concat's
  element copy at the C28x software MAC rate (TI's NPU does not run Concat). Neither ratio can be
  checked on TI's networks: they have no concat and little pooling.
- The six CPU devices are one C28x software cycle count divided by TI's assumed clock (TI_CLOCK_MHZ), so
  their relative errors are equal; F28P55 is a separate NPU build.
Fit: least squares on relative error (what the table reports), with the overhead kept >= 0.
"""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .search_space.memory import ACTIVATION_BYTES, BIAS_BYTES, LAYER_OVERHEAD_BYTES, WEIGHT_BYTES

MEASURED_LENGTH, PUBLISHED_MACS_KEY = 256, "(1,1,512,1)"
# the clock TI divided each device's cycle count by (the data file's provenance line)
TI_CLOCK_MHZ = {"F280013": 120, "F280015": 120, "F28003": 120, "F2837": 120, "F28004": 100, "F28P65": 200, "F28P55": 150}
NPU_DEVICES = ("F28P55",)


@dataclass(frozen=True)
class Point:
    network: str  # one name per distinct network
    device: str
    cycles: float  # inference_time_us x TI's clock
    work: dict  # conv_macs, linear_macs, pool_reads, moved
    flash: int
    sram: int
    params: int
    model_flash: int | None  # the project's memory model (None: layers not public)
    model_sram: int | None


def _walk(layers: list[dict], channels: int, length: int) -> dict:
    """Op-class counts of one of TI's layer lists (ti_model_layers.json's conventions), with the project
    memory model's flash and SRAM for it (memory.py's rules: int8 weights, int32 biases, a descriptor per
    layer; the input buffer plus the largest input + output pair of a step)."""
    work = dict(conv_macs=0, linear_macs=0, pool_reads=0, moved=0, params=0, model_flash=0, peak=0)
    c, n = channels, length
    for layer in layers:
        op, size_in = layer["op"], c * n * ACTIVATION_BYTES
        if op in ("conv", "linear"):
            weights = layer["in"] // layer.get("groups", 1) * layer["out"] * layer.get("kernel", 1)
            work["model_flash"] += weights * WEIGHT_BYTES + layer["out"] * BIAS_BYTES + LAYER_OVERHEAD_BYTES
        if op in ("conv", "maxpool"):
            n_out = (n + 2 * layer["padding"] - layer["kernel"]) // layer["stride"] + 1
            if op == "conv":
                per_out = layer["in"] // layer.get("groups", 1) * layer["kernel"]
                work["conv_macs"] += per_out * layer["out"] * n_out
                work["params"] += per_out * layer["out"] + layer["out"]
                c = layer["out"]
            else:
                work["pool_reads"] += c * n_out * layer["kernel"]
            n = n_out
        elif op == "adaptive_avgpool":
            work["pool_reads"] += c * n
            n = layer["output_size"]
        elif op == "linear":
            work["linear_macs"] += layer["in"] * layer["out"]
            work["params"] += layer["in"] * layer["out"] + layer["out"]
            c, n = layer["out"], 1
        if op != "flatten":
            work["peak"] = max(work["peak"], size_in + c * n * ACTIVATION_BYTES)
    work["model_sram"] = channels * length * ACTIVATION_BYTES + work.pop("peak")
    return work


def _work(spec: dict, device: str) -> tuple[str, dict]:
    """(network identity, counts) of a model as measured on ``device``."""
    channels, length = spec["input"]
    layers = spec.get("layers")
    if layers and device in NPU_DEVICES and "layers_previous_design" in spec:
        layers = spec["layers_previous_design"]  # the F28P55 row predates the redesign (see the JSON's note)
    if layers:
        return json.dumps(layers), _walk(layers, channels, length)
    macs = spec["published_macs"][PUBLISHED_MACS_KEY] * length / 512
    identity = f"{spec['published_params']}|{spec['published_macs']}"
    return identity, dict(conv_macs=macs, linear_macs=0, pool_reads=0, moved=0, params=spec["published_params"],
                          model_flash=None, model_sram=None)


def load_points(data_dir: Path) -> list[Point]:
    """One point per (distinct network, device)."""
    specs = json.loads((data_dir / "ti_model_layers.json").read_text())
    with (data_dir / "ti_device_measurements.csv").open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    points, seen = [], {}
    for row in rows:
        identity, work = _work(specs[row["model"]], row["device"])
        name = seen.setdefault(identity, row["model"])
        if any(p.network == name and p.device == row["device"] for p in points):
            continue  # the same network published under a second name
        points.append(Point(name, row["device"], float(row["inference_time_us"]) * TI_CLOCK_MHZ[row["device"]],
                            {k: work[k] for k in ("conv_macs", "linear_macs", "pool_reads", "moved")},
                            int(row["flash_bytes"]), int(row["sram_bytes"]), work["params"], work["model_flash"],
                            work["model_sram"]))
    return points


def _scaled_work(work: dict, move_ratio: float) -> float:
    """Work in conv-MAC units: pool taps and Linear MACs at the MAC rate, concat copies at ``move_ratio``."""
    return work["conv_macs"] + work["linear_macs"] + work["pool_reads"] + move_ratio * work["moved"]


def fit_line(x: list[float], y: list[float]) -> tuple[float, float]:
    """(intercept >= 0, slope) minimising the squared relative error of intercept + slope x against y."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    a = np.stack([1 / y, x / y], axis=1)
    (b0, b1), *_ = np.linalg.lstsq(a, np.ones_like(y), rcond=None)
    if b0 < 0:
        b0, b1 = 0.0, float((x / y).sum() / ((x / y) ** 2).sum())
    return float(b0), float(b1)


def fit_device(points: list[Point], move_ratio: float = 1.0) -> dict:
    """{overhead_cycles, conv_cycles, linear_cycles, pool_cycles, move_cycles} from one device's points.
    ``move_ratio``: a concat copy's cost in this device's conv-MAC units (1 on CPU devices)."""
    overhead, per_mac = fit_line([_scaled_work(p.work, move_ratio) for p in points], [p.cycles for p in points])
    return {"overhead_cycles": overhead, "conv_cycles": per_mac, "linear_cycles": per_mac, "pool_cycles": per_mac,
            "move_cycles": per_mac * move_ratio}


def cpu_cycles_per_mac(points: list[Point]) -> float:
    """The C28x software MAC cost (the median over the CPU devices' fits: one cycle count, rescaled)."""
    devices = sorted({p.device for p in points if p.device not in NPU_DEVICES})
    return statistics.median(fit_device([p for p in points if p.device == d])["conv_cycles"] for d in devices)


def fit_all(points: list[Point]) -> dict[str, dict]:
    """Coefficients per measured device (NPU devices charge concat copies at the C28x software rate)."""
    cpu_mac = cpu_cycles_per_mac(points)
    fitted = {}
    for device in sorted({p.device for p in points}):
        mine = [p for p in points if p.device == device]
        if device in NPU_DEVICES:
            npu_mac = fit_device(mine)["conv_cycles"]
            fitted[device] = fit_device(mine, move_ratio=cpu_mac / npu_mac)
        else:
            fitted[device] = fit_device(mine)
    return fitted


def predict(coefficients: dict, work: dict) -> float:
    c = coefficients
    return (c["overhead_cycles"] + c["conv_cycles"] * work["conv_macs"] + c["linear_cycles"] * work["linear_macs"]
            + c["pool_cycles"] * work["pool_reads"] + c["move_cycles"] * work["moved"])


def loao_latency(points: list[Point]) -> dict[str, list[float]]:
    """Per device: the relative error of each network's latency when the fit never saw that network."""
    errors: dict[str, list[float]] = {}
    for device in sorted({p.device for p in points}):
        mine = [p for p in points if p.device == device]
        for held in mine:
            coefficients = fit_device([p for p in mine if p is not held])
            errors.setdefault(device, []).append(abs(predict(coefficients, held.work) / held.cycles - 1))
    return errors


def loao_memory(points: list[Point], key: str) -> dict[str, list[float]]:
    """The same for flash or SRAM, with a line in parameters fitted per device: parameters are the only
    feature every network has (activation sizes need the layers, public for two networks only)."""
    errors: dict[str, list[float]] = {}
    for device in sorted({p.device for p in points}):
        mine = [p for p in points if p.device == device]
        for held in mine:
            rest = [p for p in mine if p is not held]
            b0, b1 = fit_line([p.params for p in rest], [getattr(p, key) for p in rest])
            errors.setdefault(device, []).append(abs((b0 + b1 * held.params) / getattr(held, key) - 1))
    return errors


def memory_model_errors(points: list[Point], key: str) -> dict[str, list[float]]:
    """Per device: the relative error of the project's memory model (as it stands) on the networks whose
    layers are public."""
    errors: dict[str, list[float]] = {}
    for p in points:
        if getattr(p, f"model_{key}") is not None:
            errors.setdefault(p.device, []).append(abs(getattr(p, f"model_{key}") / getattr(p, key) - 1))
    return errors
