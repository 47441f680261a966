"""The retrain's plateau schedule: warm-up, a stable rate, and a decay to 0 that starts when the training
loss stops falling (or at the latest at (1 - decay) of the cap), so easy data ends early and the rate
still reaches 0; and a real fit that stops at the schedule's end, with the report saying so."""

import math

import pytest

from nas_lightning.modules.lr_schedule import PlateauSchedule, warmup_cosine
from nas_lightning.search_space.standard import standard_model
from nas_lightning.stages.train import train_stage

from conftest import compose_run_config


def _feed(schedule: PlateauSchedule, losses, steps_per_epoch: int) -> None:
    for epoch, loss in enumerate(losses, 1):
        schedule.end_epoch(loss, epoch * steps_per_epoch)


def test_a_flat_loss_starts_the_decay_which_takes_its_share_of_the_fit():
    s = PlateauSchedule(cap=10_000, warmup=100, patience=5, min_delta=0.01, decay=0.2)
    _feed(s, [1.0, 0.8, 0.6, 0.5] + [0.5] * 40, steps_per_epoch=50)
    assert s.decay_start is not None and (4 + 5) * 50 <= s.decay_start < 1_500  # soon after the loss went flat
    assert s.end - s.decay_start == math.ceil(s.decay_start * 0.2 / 0.8)  # decay = 20 % of the whole fit
    assert s.factor(0) == pytest.approx(1 / 100) and s.factor(s.decay_start - 1) == 1.0
    factors = [s.factor(t) for t in range(s.decay_start, s.end + 1)]
    assert all(a >= b for a, b in zip(factors, factors[1:])) and factors[-1] == pytest.approx(0, abs=1e-9)
    assert not s.done(s.end - 1) and s.done(s.end)


def test_a_loss_that_keeps_falling_trains_to_the_cap_and_still_decays_to_zero():
    s = PlateauSchedule(cap=1_000, warmup=10, patience=3, min_delta=0.01, decay=0.2)
    _feed(s, [0.97 ** e for e in range(100)], steps_per_epoch=10)
    assert s.decay_start is None and s.end == 1_000
    assert s.factor(799) == 1.0 and s.factor(900) == pytest.approx(0.5) and s.factor(1_000) == pytest.approx(0, abs=1e-9)


def test_noise_around_a_flat_loss_is_a_plateau_but_a_slow_steady_fall_is_not():
    noisy = PlateauSchedule(cap=100_000, warmup=0, patience=10, min_delta=0.01, decay=0.2)
    _feed(noisy, [0.5 + 0.05 * (-1) ** e for e in range(200)], steps_per_epoch=1)
    steady = PlateauSchedule(cap=100_000, warmup=0, patience=10, min_delta=0.01, decay=0.2)
    _feed(steady, [0.98 ** e for e in range(200)], steps_per_epoch=1)
    assert noisy.decay_start is not None and steady.decay_start is None


def test_cosine_stays_the_fixed_budget_schedule():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1) and warmup_cosine(100, 100, 10) == pytest.approx(0)


def test_a_retrain_on_easy_data_ends_at_its_plateau_with_the_rate_at_zero(tmp_path):
    from nas_lightning.data.datamodule import TimeSeriesDataModule
    from nas_lightning.search_space.layout import MacroSpec, NetShape

    cfg = compose_run_config(["data.samples_per_class=20", "data.frame_size=64", "data.noise=0.05", "train.epochs=400",
                              "train.patience=5", "augment=none"])
    dm = TimeSeriesDataModule(cfg.data, cfg.seed)
    shape = NetShape(MacroSpec.from_config(cfg.preset), dm.num_channels, dm.input_length, dm.num_classes)
    trained = train_stage(cfg, dm, shape, standard_model("cls_500_npu"), tmp_path)
    info = trained.info
    assert info["schedule"] == "plateau" and info["plateau_step"] is not None
    assert info["steps_done"] == trained.module.schedule.end < info["steps"]  # stopped early, not by the clock
    assert not info["stopped_by_time_cap"] and info["epochs_done"] < info["epochs"]
    assert trained.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0, abs=1e-9)


def test_bad_schedule_values_are_refused():
    from nas_lightning.errors import UserInputError

    for bad, key in [("train.schedule=linear", "train.schedule"), ("train.patience=0", "train.patience"),
                     ("train.decay=1", "train.decay"), ("train.min_delta=-0.1", "train.min_delta")]:
        with pytest.raises(UserInputError, match=key):
            compose_run_config([bad])
