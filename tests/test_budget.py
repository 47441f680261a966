"""Step budgets and the search's learning signal: ``epochs: null`` runs the configured number of
batches whatever the data size, the warm-up makes weight steps only, the architecture steps really
happen (counted from the alpha optimizer's own state), and on a learnable task the alphas move."""

import pytest
import torch

from nas_lightning.config import AugmentConfig
from nas_lightning.data.augment import augment
from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.modules.lr_schedule import warmup_cosine
from nas_lightning.stages.trainer import budget

from conftest import compose_run_config, search_only

SMALL = ["preset=s", "data.samples_per_class=30", "data.frame_size=64", "data.batch_size=16"]


def _search(tmp_path, overrides):
    searched, _, dm = search_only([*SMALL, *overrides], tmp_path)
    info = searched.info
    state = torch.load(tmp_path / "checkpoints" / "search" / "last.ckpt", weights_only=True)
    return info, state, dm.with_phase("search").steps_per_epoch()


def test_budget_scales_epochs_to_the_data():
    assert budget(None, 300, 1) == (300, 300)  # a 33-series archive: one batch per epoch
    assert budget(None, 300, 7) == (43, 301)  # whole epochs, at least the steps asked for
    assert budget(5, 300, 7) == (5, 35)  # explicit epochs win


def test_step_budget_and_warmup_are_honoured_on_the_trainer(tmp_path):
    info, state, per_epoch = _search(tmp_path, ["search.steps=5", "search.warmup=0.5", "mode.weight=0"])
    epochs = -(-5 // per_epoch)
    assert (info["epochs"], info["steps"]) == (epochs, epochs * per_epoch)
    assert state["epoch"] == epochs - 1
    warmup = int(0.5 * info["steps"])
    alpha_state = state["optimizer_states"][1]["state"]
    assert info["alpha_steps"] == info["steps"] - warmup
    assert alpha_state and all(int(s["step"]) == info["alpha_steps"] for s in alpha_state.values())
    assert int(state["optimizer_states"][0]["state"][0]["momentum_buffer"].numel()) > 0  # weights stepped too


def test_alphas_move_on_a_learnable_task(tmp_path):
    info, _, _ = _search(tmp_path, ["search.steps=60", "mode.weight=0"])
    for cell, entropy in info["alpha_entropy"].items():
        assert entropy["drop"] > 0.02, (cell, entropy)


def test_search_validation_batches_mix_classes():
    cfg = compose_run_config(SMALL)
    dm = TimeSeriesDataModule(cfg.data, cfg.seed).with_phase("search")
    _, y = next(iter(dm.val_dataloader()))
    assert len(torch.unique(y)) > 1  # batch-statistics BN on a one-class batch erases the class


def test_augment_keeps_shape_and_zero_config_is_identity():
    x = torch.randn(6, 2, 50)
    assert torch.equal(augment(x, AugmentConfig()), x)
    shifted = augment(x, AugmentConfig(shift=0.2), seed=3)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    torch.testing.assert_close(shifted.sort(-1).values, x.sort(-1).values)  # circular: same values per series
    noisy = augment(x, AugmentConfig(jitter=0.1, scale=0.1), seed=3)
    assert noisy.shape == x.shape and 0 < (noisy - x).abs().mean() < 1
    basic = AugmentConfig(jitter=0.1, scale=0.1, shift=0.1)
    assert torch.equal(augment(x, basic, seed=3), augment(x, basic, seed=3))  # a resumed run replays a batch's draws
    assert not torch.equal(augment(x, basic, seed=4), augment(x, basic, seed=3))


def test_augment_applies_only_to_the_stages_listed():
    cfg = compose_run_config(["augment.stages=[search]"])
    assert cfg.augment.for_stage("search", windows=True).scale > 0
    assert cfg.augment.for_stage("train", windows=True) == AugmentConfig()
    x = torch.randn(4, 1, 32)
    assert torch.equal(augment(x, cfg.augment.for_stage("train", windows=True), seed=1), x)


def test_shift_null_shifts_windows_of_recordings_but_not_whole_series():
    synthetic, archive = compose_run_config([]), compose_run_config(["data=aeon", "data.name=GunPoint"])
    assert synthetic.data.cuts_windows and not archive.data.cuts_windows
    assert synthetic.augment.for_stage("search", synthetic.data.cuts_windows).shift == 0.1
    assert archive.augment.for_stage("search", archive.data.cuts_windows).shift == 0.0
    assert compose_run_config(["augment.shift=0.2"]).augment.for_stage("search", False).shift == 0.2
    # the retrain augments too by default; augment.stages=[search] trains it plainly
    assert (archive.augment.for_stage("train", False).jitter, archive.augment.for_stage("train", False).scale) == (0.03, 0.1)
    plain = compose_run_config(["augment.stages=[search]"]).augment.for_stage("train", False)
    assert plain == type(archive.augment)()


@pytest.mark.parametrize("total, warmup", [(100, 10), (50, 0)])
def test_warmup_cosine_rises_then_decays_to_zero(total, warmup):
    factors = [warmup_cosine(t, total, warmup) for t in range(total + 1)]
    if warmup:
        assert factors[0] == pytest.approx(1 / warmup) and factors[warmup - 1] == pytest.approx(1.0)
    assert max(factors) == pytest.approx(1.0) and factors[-1] == pytest.approx(0.0, abs=1e-9)
    assert all(a >= b for a, b in zip(factors[warmup:], factors[warmup + 1:]))


def test_bad_budget_values_are_refused():
    from nas_lightning.errors import UserInputError

    for override, message in [("search.steps=0", "search.steps=0"), ("search.warmup=1", "search.warmup=1"),
                              ("train.fit_on=test", "train.fit_on=test"), ("augment.shift=0.9", "augment.shift=0.9"),
                              ("train.label_smoothing=-0.1", "train.label_smoothing=-0.1"),
                              ("augment.stages=[export]", "augment.stages")]:
        with pytest.raises(UserInputError, match=message.replace(".", r"\.")):
            compose_run_config([override])
