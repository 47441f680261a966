"""Devices: the catalogue composes, NPU presets are rounded, a preset that cannot fit is refused up
front with a proposal, a model over budget exits 3 with its artifacts kept, and (slow) the issue's
end-to-end promises: NPU rules and pow2 scales on F28P55, int8 within 1 pt of float."""

import pytest

from nas_lightning.config import DeviceConfig
from nas_lightning.config_files import group_options
from nas_lightning.devices import Device, npu_spec
from nas_lightning.summary import fit_line
from nas_lightning.errors import UserInputError
from nas_lightning.search_space.cost import Cost
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.search_space.memory import network_memory, smallest_genotype

from conftest import TINY, compose_run_config, read_report, run_cli

CATALOGUE = ["F28P55", "F28P65", "F2837", "F28004", "MSPM0G3507", "MSPM0G3519", "MSPM0G5187", "AM13E2", "AM263",
             "CC2755", "MSPM33C32", "host"]


def test_catalogue_composes_and_says_what_is_unknown():
    assert set(CATALOGUE) <= set(group_options("device"))
    for name in group_options("device"):
        d = compose_run_config([f"device={name}"]).device
        assert d.name == name and d.core and isinstance(d.has_npu, bool)
        if d.flash_kb is None or d.sram_kb is None:
            assert "unlimited" in d.note or d.name == "host", name
    npu = {n for n in group_options("device") if compose_run_config([f"device={n}"]).device.has_npu}
    assert npu == {"F28P55", "AM13E2", "MSPM0G5187"}
    mspm0 = compose_run_config(["device=MSPM0G3507"]).device
    assert (mspm0.flash_kb, mspm0.sram_kb) == (128, 32)


def test_npu_rounds_channels_to_multiples_of_4():
    spec, changes = npu_spec(MacroSpec(3, 4, 1, 3, 4))
    assert spec.init_channels == 4 and changes == {"init_channels": [1, 4]}
    assert npu_spec(MacroSpec(3, 4, 8, 3, 4)) == (MacroSpec(3, 4, 8, 3, 4), {})


def test_preset_that_cannot_fit_is_refused_with_a_proposal():
    tiny = DeviceConfig(name="tiny", flash_kb=20, sram_kb=32)
    spec = MacroSpec(20, 6, 8, 3, 4)  # xxl
    with pytest.raises(UserInputError, match=r"preset=xxl cannot fit device=tiny: even its smallest network needs "
                                             r"flash 36\.\d/20 KB; try preset=xl"):
        Device(tiny).check_preset_can_fit("xxl", NetShape(spec, 3, 256, 4))
    with pytest.raises(UserInputError, match="no preset fits"):
        Device(DeviceConfig(name="none", sram_kb=1)).check_preset_can_fit("s", NetShape(MacroSpec(3, 4, 1, 3, 4), 3, 256, 4))
    assert Device(DeviceConfig(name="roomy", flash_kb=512, sram_kb=128)).check_preset_can_fit("xxl", NetShape(spec, 3, 256, 4))


def test_verdict_and_summary_line():
    spec = MacroSpec(3, 4, 4, 3, 4)
    m = network_memory(smallest_genotype(4, 4), NetShape(spec, 3, 256, 4))
    rule = "not in TI's supported layer list"
    npu = {"violations": [], "warnings": [{"op": "Concat", "rule": rule}] * 2 + [{"op": "Add", "rule": rule}]}
    ok = Device(DeviceConfig(name="F28P55", flash_kb=512, sram_kb=128, has_npu=True)).verdict(m, npu, {}, Cost())
    assert ok["ok"] and ok["flash_share"] == m.flash_bytes / (512 * 1024)
    assert fit_line(ok, m.as_dict()) == (f"fits F28P55: flash {m.flash_bytes / 1024:.1f}/512 KB, SRAM "
                                         f"{m.sram_bytes / 1024:.1f}/128 KB, NPU rules OK, warnings: Concat {rule} (x2); "
                                         f"Add {rule} (x1)")
    small = Device(DeviceConfig(name="small", flash_kb=1, sram_kb=None)).verdict(m, None, {}, Cost())
    assert not small["ok"] and small["over"] == ["flash"] and small["sram_share"] is None
    assert fit_line(small, m.as_dict()).startswith("does NOT fit small: flash")
    broken = Device(DeviceConfig(name="npu", has_npu=True)).verdict(m, {"violations": [{}], "warnings": []}, {}, Cost())
    assert not broken["ok"] and "NPU rules BROKEN (1 violations)" in fit_line(broken, m.as_dict())


def test_cli_refuses_up_front(tmp_path):
    result = run_cli(["preset=xxl", "device=MSPM0G3507", "device.flash_kb=20"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "try preset=xl" in errors[0]
    assert not (tmp_path / "genotype.json").exists()


def test_cli_model_over_budget_exits_3_and_keeps_artifacts(tiny_run, tmp_path):
    args = [*TINY, "stages=[train,export]", f"genotype={tiny_run / 'genotype.json'}", "device=MSPM0G3507",
            "device.flash_kb=0.1"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "does NOT fit MSPM0G3507: flash" in result.stdout
    report = read_report(tmp_path)
    assert report["device"]["over"] == ["flash"] and not report["device"]["ok"]
    assert (tmp_path / "model_int8.onnx").is_file() and (tmp_path / "model.onnx").is_file()


@pytest.mark.slow
def test_preset_m_on_f28p55_passes_npu_rules_with_pow2_scales(tmp_path):
    result = run_cli(["preset=m", "device=F28P55"], tmp_path, timeout=3000)
    assert result.returncode == 0, result.stderr[-2000:]
    report = read_report(tmp_path)
    assert report["device"]["ok"] and report["device"]["npu"]["violations"] == []
    assert report["export"]["quant"]["all_pow2"] and report["device"]["preset_changes"] == {"init_channels": [1, 4]}
    assert "fits F28P55: flash" in result.stdout and "NPU rules OK" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["data=aeon", "data.name=BasicMotions"]], ids=["default", "BasicMotions"])
def test_int8_within_one_point_of_float(tmp_path, args):
    result = run_cli(args, tmp_path, timeout=3000)
    assert result.returncode == 0, result.stderr[-2000:]
    export = read_report(tmp_path)["export"]
    assert export["test_acc_onnx_float"] - export["test_acc_onnx_int8"] <= 0.01 + 1e-9  # one point, float-safe


def test_repair_steps_convs_down_until_flash_fits():
    from nas_lightning.search_space.genotype import Genotype

    spec = MacroSpec(6, 4, 4, 3, 4)
    cell = [["conv_bn_relu_7x1", 0], ["conv_bn_relu_7x1", 1], ["conv_bn_relu_5x1", 2], ["skip_connect", 0]]
    g = Genotype.from_dict({"normal": cell, "reduce": cell, "normal_concat": [1, 2, 3, 4], "reduce_concat": [1, 2, 3, 4]})
    full = network_memory(g, NetShape(spec, 3, 64, 4)).flash_bytes
    low = network_memory(smallest_genotype(4, 4), NetShape(spec, 3, 64, 4)).flash_bytes
    limit_kb = (low + (full - low) / 3) / 1024
    fixed, changes = Device(DeviceConfig(name="d", flash_kb=limit_kb)).repair_flash(g, NetShape(spec, 3, 64, 4))
    assert changes and network_memory(fixed, NetShape(spec, 3, 64, 4)).flash_bytes <= limit_kb * 1024
    assert all(op != "skip_connect" or (k == 3) for t in ("normal", "reduce") for k, (op, _) in enumerate(fixed.cell(t)[0]))
    assert Device(DeviceConfig(name="big", flash_kb=1024)).repair_flash(g, NetShape(spec, 3, 64, 4)) == (g, [])
