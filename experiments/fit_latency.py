"""Refit the device latency model to TI's published measurements and print the error table.

    python experiments/fit_latency.py            # the table: leave-one-architecture-out error per device
    python experiments/fit_latency.py --write    # also rewrite the ``latency:`` block of conf/device/*.yaml
    python experiments/fit_latency.py --figure   # also write docs/figures/latency_fit.md (the README's table)

Data: experiments/data/ti_device_measurements.csv and ti_model_layers.json (TI's numbers, with their source).
The table's rows: latency (this model), flash and SRAM (a line in parameters fitted per device, and the
project's memory model as it stands, on the two networks whose layers are public). A catalogue device TI
published no measurement for gets the cycles of EXTRAPOLATE_FROM's device at its own clock.
"""

from __future__ import annotations

import argparse
import re
import sys
from statistics import median
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from nas_lightning.latency_fit import (TI_CLOCK_MHZ, fit_all, load_points, loao_latency, loao_memory,  # noqa: E402
                                       memory_model_errors)

DATA, DEVICES = ROOT / "experiments" / "data", ROOT / "conf" / "device"
# catalogue devices without a published point -> the measured device whose cycles they borrow
EXTRAPOLATE_FROM = {"AM13E2": "F28P55", "MSPM0G5187": "F28P55",  # TI NPU devices
                    "AM263": "F28004", "CC2755": "F28004", "F29H85": "F28004", "MSPM0G3507": "F28004",
                    "MSPM0G3519": "F28004", "MSPM33C32": "F28004"}
NO_MODEL = ("host",)
BLOCK_START = "# latency model: written by experiments/fit_latency.py"
SOURCE = "TI tinyml-tensorlab @ca0ef47 description_timeseries.yaml, 9 networks"


def table(points) -> list[str]:
    rows = {"latency (this model)": loao_latency(points), "flash (line in params)": loao_memory(points, "flash"),
            "SRAM (line in params)": loao_memory(points, "sram"),
            "flash (memory.py as is, CLS only)": memory_model_errors(points, "flash"),
            "SRAM (memory.py as is, CLS only)": memory_model_errors(points, "sram")}
    devices = sorted({p.device for p in points})
    lines = ["median |relative error| (max), leave one architecture out; 9 networks per device",
             f"| {'estimate':<34} | " + " | ".join(f"{d:>15}" for d in devices) + " |",
             f"|{'-' * 36}|" + "|".join("-" * 17 for _ in devices) + "|"]
    for name, errors in rows.items():
        cells = [f"{100 * median(errors[d]):5.1f} % ({100 * max(errors[d]):3.0f} %)" for d in devices]
        lines.append(f"| {name:<34} | " + " | ".join(f"{c:>15}" for c in cells) + " |")
    return lines


def block(coefficients: dict, clock: float, source: str, extrapolated_from: str | None) -> str:
    c = {k: round(v, 3) for k, v in coefficients.items()}
    lines = [BLOCK_START, "latency:", f"  clock_mhz: {clock:g}"]
    lines += [f"  {k}: {v}" for k, v in c.items()]
    lines += [f"  extrapolated_from: {extrapolated_from}"] if extrapolated_from else []  # null is the schema's default
    lines += [f'  source: "{source}"']
    return "\n".join(lines) + "\n"


def catalogue_blocks(fitted: dict) -> dict[str, str]:
    blocks = {}
    for path in sorted(DEVICES.glob("*.yaml")):
        name = path.stem
        if name in NO_MODEL:
            continue
        if name in fitted:
            clock = TI_CLOCK_MHZ[name]
            blocks[name] = block(fitted[name], clock, f"{SOURCE}; TI's times assume {clock:g} MHz", None)
        else:
            source = EXTRAPOLATE_FROM[name]
            clock = float(re.search(r"^clock_mhz:\s*([\d.]+)", path.read_text(), re.M).group(1))
            blocks[name] = block(fitted[source], clock, f"{source}'s fitted cycles at this device's clock", source)
    return blocks


def write(blocks: dict[str, str]) -> None:
    for name, text in blocks.items():
        path = DEVICES / f"{name}.yaml"
        kept = path.read_text().split(BLOCK_START)[0].rstrip("\n")
        path.write_text(kept + "\n" + text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the latency block of conf/device/*.yaml")
    parser.add_argument("--figure", action="store_true", help="write docs/figures/latency_fit.md")
    args = parser.parse_args()
    points = load_points(DATA)
    fitted = fit_all(points)
    print("\n".join(table(points)))
    if args.figure:
        from figures import FIGURES, write_figure

        write_figure(FIGURES / "latency_fit.md", "\n".join(table(points)[1:]) + "\n\n" + table(points)[0])
    print("\nfitted cycles (all networks):")
    for device, c in fitted.items():
        print(f"  {device:<8} overhead {c['overhead_cycles']:9.0f}, conv/linear/pool {c['conv_cycles']:.3f} per MAC or "
              f"tap, concat {c['move_cycles']:.3f} per element, at {TI_CLOCK_MHZ[device]} MHz")
    if args.write:
        write(catalogue_blocks(fitted))
        print(f"\nwrote the latency block of {DEVICES}/*.yaml")


if __name__ == "__main__":
    main()
