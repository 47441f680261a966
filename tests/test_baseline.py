"""``model=baseline``: the hand-designed FCN goes through the same retrain and export path (no
search, its own three-layer macro), so quality studies and sweeps can put it beside searched networks."""

import pytest

from nas_lightning.errors import UserInputError
from nas_lightning.search_space.baseline import BASELINE_NORMAL, BASELINE_REDUCE, baseline_genotype, baseline_spec
from nas_lightning.search_space.cost import fixed_net_cost
from nas_lightning.search_space.layout import NetShape
from nas_lightning.search_space.network import FixedNet

from conftest import TINY, compose_run_config, read_report, run_cli


def test_baseline_is_the_fcn_kernels_widening_on_three_layers():
    g, spec = baseline_genotype(), baseline_spec(8)
    net = FixedNet(g, NetShape(spec, 1, 128, 3))
    convs = [m for m in net.modules() if m.__class__.__name__ == "Conv1d" and m.kernel_size[0] > 1]
    shapes = [(c.kernel_size[0], c.out_channels, c.stride[0]) for c in convs]
    assert shapes == [(3, 8, 1), (7, 8, 1), (5, 16, 2), (5, 32, 2)]
    assert fixed_net_cost(g, NetShape(spec, 1, 128, 3)).deployed == sum(
        m.weight.numel() + m.out_channels for m in net.modules() if m.__class__.__name__ == "Conv1d"
    ) + net.classifier.weight.numel() + 3


def test_baseline_config_drops_search_and_needs_train():
    assert compose_run_config(["model=baseline"]).stages == ["train", "export"]
    with pytest.raises(UserInputError, match="model=baseline"):
        compose_run_config(["model=baseline", "stages=[search]"])
    with pytest.raises(UserInputError, match="model=mlp"):
        compose_run_config(["model.name=mlp"])
    with pytest.raises(UserInputError, match="model.width=0"):
        compose_run_config(["model=baseline", "model.width=0"])


def test_baseline_trains_exports_and_reports(tmp_path):
    result = run_cli([*TINY, "model=baseline", "model.width=4"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_report(tmp_path)
    assert report["model"]["name"] == "baseline" and "search" not in report
    assert report["genotype"]["normal"] == [[BASELINE_NORMAL, 0]]
    assert report["genotype"]["reduce"] == [[BASELINE_REDUCE, 0]]
    assert (tmp_path / "model_int8.onnx").is_file()
    assert report["export"]["onnx_params"] == report["model"]["params_deployed"]
    assert not (tmp_path / "genotype.json").exists()  # nothing was searched
    assert report["model"]["params_trained"] == report["train"]["params_trained"]
