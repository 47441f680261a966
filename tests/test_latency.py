"""Latency model: its leave-one-architecture-out error recomputed from TI's published measurements, the
catalogue holding that fit, the op-class counts against TI's layer specs, the expected latency the search
penalises against fixed networks, and the refusals of mode=Latency / target.latency_us."""

import json
from pathlib import Path
from statistics import median

import pytest
import torch

from nas_lightning.config_files import group_options
from nas_lightning.devices import Device
from nas_lightning.errors import UserInputError
from nas_lightning.latency import LATENCY_METRIC
from nas_lightning.latency_fit import (NPU_DEVICES, TI_CLOCK_MHZ, _walk, fit_all, load_points, loao_latency,
                                        loao_memory, predict)
from nas_lightning.search_space.cost import ExpectedCost, chain_cost, fixed_net_cost
from nas_lightning.search_space.derive import derive_genotype
from nas_lightning.search_space.layout import MacroSpec, NetShape, edge_list
from nas_lightning.search_space.memory import smallest_memory
from nas_lightning.search_space.ops import PRIMITIVES
from nas_lightning.search_space.standard import standard_model

from conftest import compose_run_config

DATA = Path(__file__).resolve().parents[1] / "experiments" / "data"
POINTS = load_points(DATA)


def test_published_points_are_nine_networks_on_seven_devices():
    assert len({p.network for p in POINTS}) == 9 and len({p.device for p in POINTS}) == 7 and len(POINTS) == 63
    cls_1k = next(p for p in POINTS if p.network == "CLS_1k_NPU" and p.device == "F28004")
    assert cls_1k.cycles == 17356 * 100  # the figure, at TI's 100 MHz


def test_leave_one_architecture_out_latency_error_is_within_20_percent():
    errors = loao_latency(POINTS)
    assert set(errors) == set(TI_CLOCK_MHZ)
    for device, values in errors.items():
        assert len(values) == 9 and median(values) <= 0.20, (device, median(values))
    # the NPU device is told apart: one MAC costs it a tenth of what it costs the C28x in software
    fitted = fit_all(POINTS)
    assert fitted["F28P55"]["conv_cycles"] < fitted["F28004"]["conv_cycles"] / 5


def test_flash_and_sram_lines_state_their_error():
    """The memory table the script prints: flash within the 15 % goal on the NPU build only (reported, not
    hidden: the C28x build's flash and SRAM do not follow the parameter count)."""
    flash, sram = loao_memory(POINTS, "flash"), loao_memory(POINTS, "sram")
    assert median(flash["F28P55"]) <= 0.15 < median(flash["F28004"])
    assert median(sram["F28004"]) > 0.15


def _yaml_latency(name: str) -> dict:
    cfg = compose_run_config([f"device={name}"]).device
    return cfg.latency.__dict__, cfg.clock_mhz


def test_the_catalogue_holds_the_fit_and_says_what_is_extrapolated():
    fitted = fit_all(POINTS)
    for name in group_options("device"):
        latency, clock = _yaml_latency(name)
        if name == "host":
            assert latency["clock_mhz"] is None
            continue
        source = latency["extrapolated_from"] or name
        assert source in fitted, name
        for key, value in fitted[source].items():
            assert latency[key] == pytest.approx(value, abs=1e-3), (name, key)
        assert latency["clock_mhz"] == (TI_CLOCK_MHZ[name] if name in fitted else clock)
    assert _yaml_latency("AM13E2")[0]["extrapolated_from"] in NPU_DEVICES  # an NPU device borrows NPU cycles


def test_op_class_counts_match_tis_layer_spec():
    """cls_1k_npu as this project builds it against TI's measured-era spec (adaptive pool to 4): the same
    convs and the same pooling taps, counted independently."""
    spec = json.loads((DATA / "ti_model_layers.json").read_text())["CLS_1k_NPU"]
    ti = _walk(spec["layers"], 1, 256)
    ours = chain_cost(standard_model("cls_1k_npu"), NetShape(MacroSpec(3, 4, 1, 3, 4), 1, 256, 2))
    assert ours.macs - ours.linear_macs == ti["conv_macs"]
    assert ours.pool_reads == ti["pool_reads"] and ours.moved == 0


def test_the_fit_ranks_cls_1k_and_cls_6k_as_measured():
    """The issue's example: CLS_1k is the faster on the F28P55 (NPU) but the slower on the F28004 (C28x in
    software, where its extra MACs count); the catalogue's coefficients must rank them the same way."""
    for device in ("F28004", "F28P55"):
        latency = compose_run_config([f"device={device}"]).device.latency
        coefficients = {k: getattr(latency, k) for k in fit_all(POINTS)[device]}
        work = {p.network: p for p in POINTS if p.device == device}
        one_k, six_k = (predict(coefficients, work[n].work) for n in ("CLS_1k_NPU", "CLS_6k_NPU"))
        assert (one_k > six_k) == (work["CLS_1k_NPU"].cycles > work["CLS_6k_NPU"].cycles), device


@pytest.mark.parametrize("device", ["F28004", "F28P55"])
def test_expected_latency_equals_the_derived_networks_when_alphas_are_decided(device):
    spec, length = MacroSpec(5, 4, 4, 3, 4), 90
    shape = NetShape(spec, 1, length, 3)
    latency = compose_run_config([f"device={device}"]).device.latency
    alphas = {}
    for t in ("normal", "reduce"):
        a = torch.full((len(edge_list(4)), len(PRIMITIVES)), -20.0)
        for row, (_, node) in enumerate(edge_list(4)):
            a[row, PRIMITIVES.index(["conv_bn_relu_3x1", "max_pool_3x1", "conv_bn_relu_7x1", "conv_bn_relu_5x1"][node - 1])] = 20.0
        alphas[t] = a
    cost = ExpectedCost(shape)
    latency.add_to(cost)
    fixed = latency.estimate_us(fixed_net_cost(derive_genotype(alphas, spec.fanout_concat), shape))
    assert cost(alphas, LATENCY_METRIC).item() == pytest.approx(fixed, rel=0.01)
    floor = latency.estimate_us(fixed_net_cost(_all("max_pool_3x1", spec), shape))
    assert cost.minimum(LATENCY_METRIC) <= floor + 1e-6


def _all(op: str, spec: MacroSpec):
    from nas_lightning.search_space.genotype import Genotype

    concat = list(range(spec.nodes_per_layer - spec.fanout_concat + 1, spec.nodes_per_layer + 1))
    cell = [[op, k] for k in range(spec.nodes_per_layer)]
    return Genotype.from_dict({"normal": cell, "reduce": cell, "normal_concat": concat, "reduce_concat": concat})


def test_report_block_says_measured_or_extrapolated():
    shape = NetShape(MacroSpec(3, 4, 4, 3, 4), 1, 150, 2)
    cost = chain_cost(standard_model("cls_1k_npu"), shape)
    memory = smallest_memory(shape)
    measured = Device(compose_run_config(["device=F28004"]).device).verdict(memory, None, {}, cost)
    assert not measured["latency_extrapolated"] and measured["latency_from"] == "F28004"
    far = Device(compose_run_config(["device=MSPM0G3507"]).device).verdict(memory, None, {}, cost)
    assert far["latency_extrapolated"] and far["latency_from"] == "F28004" and "extrapolated from F28004" in far["latency_basis"]
    assert far["latency_us"] == pytest.approx(measured["latency_us"] * 100 / 80, rel=1e-3)  # same cycles, 80 MHz
    host = Device(compose_run_config(["device=host"]).device).verdict(memory, None, {}, cost)
    assert host["latency_us"] is None


@pytest.mark.parametrize("overrides, message", [
    (["mode=Latency", "device=host"], "mode=Latency: device=host has no latency model"),
    (["device=F28004", "target.latency_us=-5"], "target.latency_us=-5.0: must be > 0 or null"),
    (["device=host", "target.latency_us=100"], "target.latency_us=100: device=host has no latency model"),
])
def test_bad_latency_settings_are_refused_in_one_line(overrides, message):
    with pytest.raises(UserInputError) as err:
        compose_run_config(overrides)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
