"""The ``logger`` group: TensorBoard, CSV and MLflow (alone or several at once) each receive the alpha
entropy, the costs, the accuracies and the architectures; MLflow writes a file store inside the run
directory (SQLite, no server); choosing MLflow without the package is one clear line naming the install."""

import csv
import importlib.util
import math

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nas_lightning.errors import UserInputError

from conftest import TINY, compose_run_config, read_report, run_cli


def _csv_columns(path) -> set[str]:
    with open(path, newline="") as f:
        return set(next(csv.reader(f)))


def _csv_values(path, column: str) -> list[float]:
    with open(path, newline="") as f:
        return [float(row[column]) for row in csv.DictReader(f) if row[column]]


def _tb_values(log_dir, tag: str) -> list[float]:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [e.value for e in events.Scalars(tag)]


@pytest.mark.slow  # 17 s: make test-full
def test_every_logger_chosen_receives_the_runs_figures(tmp_path):
    mlflow = pytest.importorskip("mlflow")  # the dev extra installs it
    run_dir = tmp_path / "run"
    result = run_cli([*TINY, "logger=[tensorboard,csv,mlflow]"], run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_report(run_dir)
    assert list((run_dir / "tb").glob("search/events.out.tfevents.*")) and list((run_dir / "tb").glob("train/events.*"))
    search_cols = _csv_columns(run_dir / "csv" / "search" / "metrics.csv")
    assert {"alpha/entropy_normal_epoch", "cost/expected_deployed", "search/val_acc", "search/kept_val_acc"} <= search_cols
    assert {"train/loss_epoch", "test/acc", "final/test_acc", "final/test_acc_int8"} <= _csv_columns(
        run_dir / "csv" / "train" / "metrics.csv")
    hparams = yaml.safe_load((run_dir / "csv" / "train" / "hparams.yaml").read_text())
    assert hparams["deployed_model"].startswith(report["model"]["name"])
    assert yaml.safe_load((run_dir / "csv" / "search" / "hparams.yaml").read_text())["search_genotype"]

    client = mlflow.tracking.MlflowClient(f"sqlite:///{(run_dir / 'mlflow.db').resolve()}")
    [experiment] = [e for e in client.search_experiments() if e.name == "nas-lightning"]
    [run] = client.search_runs([experiment.experiment_id])  # one MLflow run holds both stages
    assert run.data.metrics["final/test_acc"] == pytest.approx(report["train"]["test_acc"])
    assert run.data.metrics["final/test_acc_int8"] == pytest.approx(report["export"]["test_acc_onnx_int8"])
    assert {"alpha/entropy_normal_epoch", "search/val_acc", "test/acc"} <= set(run.data.metrics)
    assert {"search_genotype", "deployed_model"} <= set(run.data.params)

    # the same alpha entropy and test accuracy read back from each store: equal across stores, and plausible
    entropy = _csv_values(run_dir / "csv" / "search" / "metrics.csv", "alpha/entropy_normal_epoch")
    assert entropy and all(0 < e <= math.log(7) for e in entropy)  # 7 ops: at most ln 7 nats
    assert _tb_values(run_dir / "tb" / "search", "alpha/entropy_normal_epoch") == pytest.approx(entropy)
    history = client.get_metric_history(run.info.run_id, "alpha/entropy_normal_epoch")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(entropy)
    test_acc = report["train"]["test_acc"]
    assert _csv_values(run_dir / "csv" / "train" / "metrics.csv", "test/acc") == pytest.approx([test_acc])
    assert _tb_values(run_dir / "tb" / "train", "test/acc") == pytest.approx([test_acc])
    assert _tb_values(run_dir / "tb" / "train", "final/test_acc") == pytest.approx([test_acc])
    assert run.data.metrics["test/acc"] == pytest.approx(test_acc)


def test_tensorboard_alone_is_the_default():
    cfg = compose_run_config([])
    assert cfg.logger.names == ["tensorboard"]
    assert compose_run_config(["logger=[csv,tensorboard]"]).logger.names == ["tensorboard", "csv"]


def test_mlflow_without_the_package_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(UserInputError, match=r"logger=mlflow: the mlflow package is not installed; .*\[mlflow\]"):
        compose_run_config(["logger=mlflow"])
