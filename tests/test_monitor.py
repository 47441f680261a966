"""TensorBoard through Lightning's logger: the tags a user watches are really in the event files
(read back with TensorBoard's own EventAccumulator), and the run folder holds the evaluation extras."""

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


from conftest import TINY, read_report, search_only

SEARCH_SCALARS = [
    *(f"alpha/{s}_{t}_{w}" for s in ("entropy", "skip_share") for t in ("normal", "reduce") for w in ("step", "epoch")),
    "cost/expected_params", "cost/expected_deployed", "cost/expected_macs",
    "search/weight_loss_step", "search/alpha_loss_epoch", "search/train_acc_epoch", "search/val_loss",
    "search/val_acc", "search/w_lr", "search/beta_decay_loss", "search/penalty", "search/expected_deployed",
    "search/budget_hinge", "search/expected_flash_kb", "search/expected_sram_kb",
]
TRAIN_SCALARS = ["train/loss_step", "train/acc_epoch", "train/lr", "val/loss", "val/acc", "test/acc", "test/macro_f1"]


def events(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0, "tensors": 0, "scalars": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search")
    search_only([*TINY, "search.epochs=2", "search.beta_decay=0.5"], out)
    return out


def test_search_logs_alpha_health_costs_heatmaps_and_genotype(search_dir):
    acc = events(search_dir / "tb" / "search")
    tags = acc.Tags()
    missing = [t for t in SEARCH_SCALARS if t not in tags["scalars"]]
    assert not missing, f"missing scalars {missing}; have {tags['scalars']}"
    assert len(acc.Scalars("cost/expected_macs")) == 2  # once per epoch
    for t in ("normal", "reduce"):
        assert len(acc.Images(f"alpha/probs_{t}")) == 2
    texts = acc.Tensors("search/genotype/text_summary")
    assert len(texts) == 2 and b"normal" in texts[-1].tensor_proto.string_val[0]


def test_retrain_logs_losses_accuracy_lr_and_confusion_image(tiny_run):
    acc = events(tiny_run / "tb" / "train")
    missing = [t for t in TRAIN_SCALARS if t not in acc.Tags()["scalars"]]
    assert not missing, missing
    assert acc.Scalars("train/lr")[0].value > 0
    assert len(acc.Images("test/confusion_matrix")) == 1


def test_retrain_logs_the_int8_table_and_the_worst_tensors_histograms(tiny_run):
    acc = events(tiny_run / "tb" / "train")
    layers = read_report(tiny_run)["quant"]["layers"]
    worst = min((r for r in layers if r["sqnr_db"] is not None), key=lambda r: r["sqnr_db"])
    assert worst["tensor"].encode() in acc.Tensors("quant/layers/text_summary")[0].tensor_proto.string_val[0]
    histograms = acc.Tags()["histograms"]
    assert f"quant/float/{worst['tensor']}" in histograms and f"quant/int8/{worst['tensor']}" in histograms
    assert len([t for t in histograms if t.startswith("quant/int8/")]) == min(4, sum(r["sqnr_db"] is not None for r in layers))


def test_report_and_run_folder_hold_evaluation_extras(tiny_run):
    report = read_report(tiny_run)["train"]
    n = len(read_report(tiny_run)["data"]["classes"])
    assert len(report["test_per_class_acc"]) == n
    matrix = report["confusion_matrix"]
    assert len(matrix) == n and sum(map(sum, matrix)) == read_report(tiny_run)["data"]["test"]
    correct = sum(matrix[i][i] for i in range(n)) / sum(map(sum, matrix))
    assert correct == pytest.approx(report["test_acc"], abs=1e-6)
    f1 = [2 * matrix[k][k] / (sum(matrix[k]) + sum(row[k] for row in matrix)) for k in range(n)]  # rows: true class
    assert report["test_macro_f1"] == pytest.approx(sum(f1) / n, abs=1e-6)  # torchmetrics' macro F1, recounted
    assert (tiny_run / "confusion_matrix.png").stat().st_size > 1000
