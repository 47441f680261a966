"""experiments/quality.py: its random genotypes are valid members of the searched space (device
rules included), and its table compares the searched network with random mean + 1 sd."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))

from quality import random_genotype, table  # noqa: E402

from nas_lightning.devices import NPU_BANNED_OPS
from nas_lightning.search_space.genotype import Genotype


def test_random_genotypes_are_valid_and_respect_device_rules():
    rng = random.Random(0)
    draws = [Genotype.from_dict(random_genotype(4, 3, NPU_BANNED_OPS, rng)) for _ in range(200)]
    ops = {op for g in draws for op, _ in g.normal + g.reduce}
    assert "none" not in ops and not ops & set(NPU_BANNED_OPS)
    assert ops == {"max_pool_3x1", "skip_connect", "conv_bn_relu_3x1", "conv_bn_relu_5x1", "conv_bn_relu_7x1"}
    assert {src for g in draws for _, src in g.normal[3:]} == {0, 1, 2, 3}  # every earlier input is drawn
    assert all(g.normal_concat == [2, 3, 4] for g in draws)
    assert len({str(g) for g in draws}) > 150


def _row(acc, params=1000, name="x"):
    return {"name": name, "acc": acc, "int8": acc - 0.01, "params": params, "macs": 10, "flash_kb": 1.0,
            "search_s": 1.0, "select_s": 0.0, "retrain_s": 2.0, "total_s": 3.0, "select": None, "entropy_drop": {}}


def _result(searched_acc):
    randoms = [_row(a) for a in (0.80, 0.90, 1.00)]  # mean 0.90, sd 0.10
    final = _row(0.95, name="cls_1k_npu")
    cand = lambda name, chosen=False: {"name": name, "origin": "standard", "params_deployed": 876, "macs": 10,  # noqa: E731
                                       "flash_kb": 1.0, "cv_mean": 0.95, "cv_sd": 0.02, "rung": 2, "bar": 0.93,
                                       "chosen": chosen}
    final["select"] = {"folds": 5, "repeats": 2, "rule": "paired_se", "decided_at_rung": 2, "seconds": 9.0,
                       "stopped_by_time_cap": False,
                       "candidates": [cand("searched"), cand("baseline"), cand("cls_1k_npu", True)]}
    return {"A": {0: {"final": final, "twice": _row(0.96), "searched": _row(searched_acc), "random": randoms,
                      "baseline": _row(0.9), "standard": {"cls_1k_npu": _row(0.95, 876)}}}}


def test_table_states_whether_search_beats_random_mean_plus_sd():
    beats, loses = table(_result(1.0)), table(_result(0.99))
    assert "0.900 ± 0.100" in beats and "(beats it)" in beats
    assert "(does not beat it)" in loses
    assert "+1.0 pt" in beats  # the 2x budget row's change of the final test accuracy
    assert "| cls_1k_npu | standard | 876 | 10 | 1.0 | 0.950 ± 0.020 | 2 | 0.930 | **yes** |" in beats


def test_hit_rate_counts_a_choice_within_a_point_of_the_best_candidate():
    miss, hit = table(_result(1.0)), table(_result(0.955))
    assert "best candidate searched (test 1.000): miss" in miss and "hit rate" in miss and "0/1" in miss
    assert "1/1" in hit
