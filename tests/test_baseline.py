"""``model=baseline``: a hand-designed plain CNN goes through the same retrain and export path
(no search), so a sweep can put it beside the searched networks."""

import pytest

from nas_lightning.errors import UserInputError
from nas_lightning.search_space.baseline import BASELINE_OP, baseline_genotype
from nas_lightning.search_space.network import live_nodes

from conftest import TINY, compose_run_config, read_report, run_cli


def test_baseline_is_a_plain_conv_chain():
    g = baseline_genotype(4)
    for cells, concat in ((g.normal, g.normal_concat), (g.reduce, g.reduce_concat)):
        assert cells == [(BASELINE_OP, k) for k in range(4)]
        assert live_nodes(cells, concat) == {1, 2, 3, 4}  # nothing pruned: every conv is used


def test_baseline_config_drops_search_and_needs_train():
    assert compose_run_config(["model=baseline"]).stages == ["train", "export"]
    with pytest.raises(UserInputError, match="model=baseline"):
        compose_run_config(["model=baseline", "stages=[search]"])
    with pytest.raises(UserInputError, match="model=mlp"):
        compose_run_config(["model.name=mlp"])


def test_baseline_trains_exports_and_reports(tmp_path):
    result = run_cli([*TINY, "model=baseline"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_report(tmp_path)
    assert report["model"]["name"] == "baseline" and "search" not in report
    assert report["genotype"]["normal"] == [[BASELINE_OP, k] for k in range(4)]
    assert report["export"]["test_acc_onnx_int8"] >= 0 and (tmp_path / "model_int8.onnx").is_file()
    assert not (tmp_path / "genotype.json").exists()  # nothing was searched
    assert report["model"]["params_trained"] == report["train"]["params_trained"]
