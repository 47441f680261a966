"""Genotype JSON round-trip, validation of bad files, and derivation from alphas."""

import json

import pytest
import torch

from nas_lightning.errors import UserInputError
from nas_lightning.search_space.derive import derive_cell, derive_genotype
from nas_lightning.search_space.genotype import Genotype
from nas_lightning.search_space.layout import edge_list
from nas_lightning.search_space.ops import PRIMITIVES

GOOD = {
    "normal": [["conv_bn_relu_3x1", 0], ["skip_connect", 1], ["max_pool_3x1", 0]],
    "reduce": [["conv_bn_relu_7x1", 0], ["avg_pool_3x1", 1], ["conv_bn_relu_5x1", 2]],
    "normal_concat": [2, 3],
    "reduce_concat": [1, 2, 3],
}


def test_round_trip(tmp_path):
    g = Genotype.from_dict(GOOD)
    g.save(tmp_path / "g.json")
    back = Genotype.load(tmp_path / "g.json")
    assert back == g
    assert json.loads((tmp_path / "g.json").read_text())["normal"][0] == ["conv_bn_relu_3x1", 0]


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"normal": [["conv_9x9", 0]]}, "unknown op 'conv_9x9'"),
        ({"normal": [["none", 0]]}, "unknown op 'none'"),
        ({"reduce": [["skip_connect", 1]]}, "input 1 is invalid; allowed: 0..0"),
        ({"reduce": [["skip_connect", 0], ["skip_connect", -1]]}, "input -1 is invalid"),
        ({"normal_concat": [7]}, "'normal_concat' must list distinct node numbers"),
        ({"normal": "conv"}, "'normal' must be a non-empty list"),
    ],
)
def test_bad_genotypes_are_refused_with_the_reason(tmp_path, patch, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**GOOD, **patch}))
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Genotype.load(path)


def test_missing_and_non_json_files(tmp_path):
    with pytest.raises(UserInputError, match="file not found"):
        Genotype.load(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(UserInputError, match="not valid JSON"):
        Genotype.load(tmp_path / "x.json")


def _alpha_favouring(choices: dict[tuple[int, int], str], nodes: int) -> torch.Tensor:
    alpha = torch.zeros(len(edge_list(nodes)), len(PRIMITIVES))
    for row, edge in enumerate(edge_list(nodes)):
        alpha[row, PRIMITIVES.index("none")] = 5.0  # 'none' strongest everywhere: must be ignored
        if edge in choices:
            alpha[row, PRIMITIVES.index(choices[edge])] = 3.0
    return alpha


def test_derivation_picks_strongest_input_and_best_non_none_op():
    alpha = _alpha_favouring({(0, 1): "conv_bn_relu_5x1", (1, 2): "max_pool_3x1", (0, 3): "skip_connect"}, 3)
    assert derive_cell(alpha, None) == [("conv_bn_relu_5x1", 0), ("max_pool_3x1", 1), ("skip_connect", 0)]
    g = derive_genotype({"normal": alpha, "reduce": alpha}, fanout=2)
    assert g.normal_concat == [2, 3]


def test_max_skip_replaces_the_weakest_skips():
    alpha = _alpha_favouring({(0, 1): "skip_connect", (1, 2): "skip_connect", (2, 3): "skip_connect"}, 3)
    alpha[edge_list(3).index((1, 2)), PRIMITIVES.index("skip_connect")] = 2.0  # weakest skip
    alpha[edge_list(3).index((0, 2)), PRIMITIVES.index("conv_bn_relu_3x1")] = 1.0
    cell = derive_cell(alpha, max_skip=2)
    assert [op for op, _ in cell].count("skip_connect") == 2
    assert cell[1] == ("conv_bn_relu_3x1", 0)
    assert all(op != "skip_connect" for op, _ in derive_cell(alpha, max_skip=0))
