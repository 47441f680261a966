"""The select stage: the smallest candidate within the tolerance of the best CV accuracy, successive
halving that keeps small networks a short rung ranks low, folds that never see the test split, and
the table in report.json and the summary."""

import math

import numpy as np
import pytest

from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.devices import Device
from nas_lightning.search_space.layout import MacroSpec, NetShape
from nas_lightning.stages.cross_validation import MAX_REPEATS, MIN_HELD_OUT, make_folds
from nas_lightning.stages.fold_record import FoldRecord
from nas_lightning.stages.select import Candidate, choose, promising, select_stage

from conftest import TINY, compose_run_config, read_report, run_cli


def fake(name, params, *accs, rung=0):
    return Candidate(name, "standard", None, None, params=params, scores={rung: list(accs)})


def test_choice_is_the_smallest_within_tolerance_of_the_best():
    pool = [fake("big", 9000, 0.96, 0.98), fake("mid", 3000, 0.955, 0.975), fake("small", 500, 0.90, 0.92)]
    chosen, best, bars = choose(pool, 0, "tolerance", 0.01)
    assert (chosen.name, best.name) == ("mid", "big") and bars["small"] == pytest.approx(0.96)
    assert choose(pool, 0, "tolerance", 0.0)[0].name == "big"
    assert choose(pool, 0, "tolerance", 0.1)[0].name == "small"


def test_one_standard_error_rule_uses_the_best_candidates_spread():
    pool = [fake("big", 9000, 0.8, 1.0, 0.9, 0.9), fake("small", 500, 0.86, 0.86, 0.86, 0.86)]
    se = np.std([0.8, 1.0, 0.9, 0.9], ddof=1) / math.sqrt(4)
    chosen, _, bars = choose(pool, 0, "one_se", 0.0)
    assert chosen.name == "small" and bars["small"] == pytest.approx(0.9 - se)


def test_paired_rule_forgives_a_gap_the_folds_disagree_on_but_not_a_steady_one():
    best = fake("big", 9000, 0.7, 0.8, 0.75, 0.75, 0.85)
    noisy = fake("noisy", 3000, 0.65, 0.7, 0.75, 0.7, 0.9)  # gap 0.03, folds disagree
    steady = fake("steady", 900, 0.66, 0.76, 0.71, 0.71, 0.81)  # gap 0.04 on every fold
    chosen, _, bars = choose([best, noisy, steady], 0, "paired_se", 0.01)
    assert chosen.name == "noisy" and bars["steady"] == pytest.approx(0.77 - 0.01)


def test_halving_keeps_the_size_front_and_tops_it_up_to_a_share():
    pool = [fake("tiny", 400, 0.6), fake("small", 800, 0.7), fake("big_worse", 9000, 0.65),
            fake("big", 12000, 0.9), fake("huge", 50000, 0.88), fake("mid", 4000, 0.85)]
    kept = {c.name for c in promising(pool, 0, eta=3)}
    assert kept == {"tiny", "small", "mid", "big"}  # the front; huge and big_worse are dominated
    narrow = [fake("a", 400, 0.9), fake("b", 800, 0.8), fake("c", 900, 0.85), fake("d", 1000, 0.7)]
    assert {c.name for c in promising(narrow, 0, eta=2)} == {"a", "c"}  # front {a}, topped up to 2 of 4


def test_folds_are_stratified_over_train_and_val_only():
    cfg = compose_run_config([*TINY, "data.samples_per_class=12"])
    dm = TimeSeriesDataModule(cfg.data, cfg.seed)
    folds = make_folds(dm.splits, 5, 2, cfg.seed)
    n = len(dm.splits.y_train) + len(dm.splits.y_val)
    assert len(folds.x) == n and len(folds.pairs) == folds.folds * 2
    for train, held in folds.pairs:
        assert len(set(train) | set(held)) == n and not set(train) & set(held)
        assert set(np.bincount(folds.y[held])) <= {n // folds.folds // len(np.unique(folds.y)),
                                                   n // folds.folds // len(np.unique(folds.y)) + 1}


@pytest.mark.parametrize("series", [40, 50, 100, 400])
def test_automatic_repeats_hold_out_enough_predictions_at_any_data_size(series):
    cfg = compose_run_config([*TINY, f"data.samples_per_class={series // 2}", "data.split_factor=[0.4,0.4,0.2]"])
    dm = TimeSeriesDataModule(cfg.data, cfg.seed)
    folds = make_folds(dm.splits, 5, None, cfg.seed)
    held_out = sum(len(held) for _, held in folds.pairs)
    n = len(folds.y)
    assert held_out == folds.repeats * n and held_out >= min(MIN_HELD_OUT, MAX_REPEATS * n)
    assert folds.repeats == 1 or (folds.repeats - 1) * n < MIN_HELD_OUT  # no more repeats than needed


SMALL_SELECT = [*TINY, "select=cv", "train.steps=30", "select.folds=3", "select.origins=[baseline,standard]",
                "model.width=4", "device=host", "data.samples_per_class=15"]


def _select(cfg, poison: bool, out_dir):
    dm = TimeSeriesDataModule(cfg.data, cfg.seed)
    if poison:  # a stage that read the test split would score differently (or fail on NaN)
        dm.splits.x_test[:] = np.nan
        dm.splits.y_test[:] = 0
    shape = NetShape(MacroSpec.from_config(cfg.preset), dm.num_channels, dm.input_length, dm.num_classes)
    return select_stage(cfg, dm, Device(cfg.device), None, shape, [], out_dir).info


def test_cross_validation_never_reads_the_test_split(tmp_path):
    cfg = compose_run_config(SMALL_SELECT)
    clean, poisoned = _select(cfg, False, tmp_path / "clean"), _select(cfg, True, tmp_path / "poisoned")
    for info in (clean, poisoned):
        info.pop("seconds")
    assert clean == poisoned
    assert sum(c["chosen"] for c in clean["candidates"]) == 1
    assert all(c["cv_mean"] is not None and 0 <= c["cv_mean"] <= 1 for c in clean["candidates"])


@pytest.mark.slow  # 15 s: make test-full
def test_select_table_reaches_report_and_summary(tmp_path):
    result = run_cli([*SMALL_SELECT, "select.origins=[searched,standard]", "select.alternatives=1"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_report(tmp_path)
    table = report["select"]["candidates"]
    chosen = [c for c in table if c["chosen"]]
    assert len(chosen) == 1 and {c["origin"] for c in table} == {"searched", "standard"}
    assert report["model"]["params_deployed"] == chosen[0]["params_deployed"]
    summary = (tmp_path / "summary.txt").read_text()
    assert all(c["name"] in summary for c in table) and "chosen" in summary


class _Clock:
    """Seconds that pass only when a fake fold pool says its work took them."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_time_cap_does_not_start_a_candidate_it_cannot_finish(monkeypatch, tmp_path):
    """Each candidate's CV costs its seconds per unit of work (budget share x folds); the cap is 60 s.
    Rung 0 spends 46.7 s; in rung 1 the smallest fits (10 s), the next would end at 86.7 s and is not
    started, so the stage keeps its cap (before, it started any candidate before the deadline)."""
    import nas_lightning.stages.select as select

    clock, cost = _Clock(), {"small": 10.0, "mid": 30.0, "big": 100.0}

    class TimedPool:
        def __init__(self, workers):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def cross_validate(self, cfg, arch, shape, splits, folds, share, known, on_fold):
            clock.now += cost[arch] * share * len(folds.pairs)
            return [{"small": 0.6, "mid": 0.7, "big": 0.8}[arch]] * len(folds.pairs)  # bigger is better: no one dominated

    monkeypatch.setattr(select, "time", clock)
    monkeypatch.setattr(select, "FoldPool", TimedPool)
    cfg = compose_run_config([*SMALL_SELECT, "select.max_minutes=1", "select.eta=3", "select.rungs=3"])
    pool = [Candidate(name, "standard", name, None, params=p, macs=p) for name, p in (("small", 1), ("mid", 2), ("big", 3))]
    folds = make_folds(TimeSeriesDataModule(cfg.data, cfg.seed).splits, 5, 1, cfg.seed)
    record = FoldRecord(tmp_path / "folds.json", resume=False)
    rungs, capped = select._halving(cfg, type("Data", (), {"splits": None})(), pool, folds, record)
    assert capped and clock.now <= 60
    assert [r["candidates"] for r in rungs] == [["small", "mid", "big"], ["small"]]
