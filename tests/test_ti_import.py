"""TI modelmaker-style YAML through ``ti_config=``: the documented example maps to our groups and runs
end to end; keys that cannot be honoured are refused in one line."""

from __future__ import annotations

import pytest
import yaml
from conftest import read_report, run_cli
from fixtures.ti_folder import sine_folder

from nas_lightning.errors import UserInputError
from nas_lightning.ti_import import overrides_from_ti

EXAMPLE = {  # the full NAS configuration of the reference documents, plus a dataset path
    "common": {"task_type": "generic_timeseries_classification", "target_device": "F28P55"},
    "dataset": {"dataset_name": "dc_arc_fault_example_dsk"},
    "data_processing_feature_extraction": {"feature_extraction_name": "FFT1024Input_256Feature_1Frame_Full_Bandwidth",
                                           "variables": 1},
    "training": {"enable": True, "training_epochs": 15, "batch_size": 256, "nas_enabled": True, "nas_epochs": 10,
                 "nas_optimization_mode": "Memory", "nas_model_size": "m"},
    "compilation": {"enable": True},
}


def _write(tmp_path, data: dict, data_path=None):
    data = {k: dict(v) for k, v in data.items()}
    if data_path is not None:
        data["dataset"]["input_data_path"] = str(data_path)
    path = tmp_path / "config_nas.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_example_maps_to_our_groups(tmp_path):
    overrides = overrides_from_ti(str(_write(tmp_path, EXAMPLE, tmp_path / "ds")))
    assert overrides[0] == "data=folder" and overrides[-1] == "stages=[search,train,export]"
    assert sorted(overrides[1:-1]) == sorted([
        "device=F28P55", f"data.path={tmp_path / 'ds'}", "data.features=FFT1024Input_256Feature_1Frame_Full_Bandwidth",
        "data.variables=1", "train.epochs=15", "data.batch_size=256", "search.epochs=10", "mode=Memory", "preset=m"])


def test_customization_keys_select_the_custom_preset(tmp_path):
    custom = {**EXAMPLE, "training": {**EXAMPLE["training"], "nas_layers": 5, "nas_init_channels": 8}}
    overrides = overrides_from_ti(str(_write(tmp_path, custom, tmp_path / "ds")))
    assert "preset=custom" in overrides and "preset=m" not in overrides
    assert "preset.layers=5" in overrides and "preset.init_channels=8" in overrides


@pytest.mark.parametrize("change, message", [
    ({"training": {**EXAMPLE["training"], "optimizer": "adam"}}, "training.optimizer cannot be honoured here"),
    ({"training": {**EXAMPLE["training"], "nas_enabled": False}}, "training.nas_enabled must be True"),
    ({"common": {"task_type": "generic_timeseries_regression"}}, "only classification tasks"),
    ({"deployment": {"enable": True}}, "section 'deployment' is not supported"),
], ids=["unknown_key", "nas_disabled", "regression", "unknown_section"])
def test_keys_that_cannot_be_honoured_are_refused(tmp_path, change, message):
    with pytest.raises(UserInputError, match=message) as err:
        overrides_from_ti(str(_write(tmp_path, {**EXAMPLE, **change}, tmp_path / "ds")))
    assert "\n" not in str(err.value)


def test_example_without_a_data_path_names_what_is_missing(tmp_path):
    with pytest.raises(UserInputError, match="dataset.input_data_path is required .*dc_arc_fault_example_dsk"):
        overrides_from_ti(str(_write(tmp_path, EXAMPLE)))


@pytest.mark.slow  # a whole CLI run or several: make test-full
def test_example_runs_end_to_end(tmp_path):
    data = sine_folder(tmp_path / "ds", files_per_class=10, rows=2048, columns=1)
    config = _write(tmp_path, EXAMPLE, data)
    result = run_cli([f"ti_config={config}"], tmp_path / "run", timeout=300)
    # 15 epochs of one 256-batch on 40 windows may not learn: exit 4 (flagged) still ran every stage
    assert result.returncode in (0, 4), result.stderr[-2000:]
    report = read_report(tmp_path / "run")
    assert report["preset"] == "m" and report["device"]["name"] == "F28P55" and report["search"]["epochs"] == 10
    assert report["train"]["epochs"] == 15 and (tmp_path / "run" / "model_int8.onnx").is_file()
