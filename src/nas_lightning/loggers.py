"""The experiment loggers a run writes to: the ``logger`` config group (lightning-hydra-template's way).

``logger=tensorboard`` (default: ``<run dir>/tb/<stage>``), ``logger=csv`` (``<run dir>/csv/<stage>/
metrics.csv``), ``logger=mlflow`` (a SQLite store at ``<run dir>/mlflow.db`` unless ``logger.mlflow.tracking_uri``: no
server, and not MLflow's file store, which MLflow 3 refuses by default; one MLflow run per product run, its
stages' metrics side by side), or several: ``logger=[tensorboard,csv]``.
Each group option fills its own key, so the choice is the set of keys present. Lightning's own loggers do
the writing; everything a stage logs with ``self.log`` reaches each of them, and ``log_outcome`` gives each
the genotype and the final figures.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import UserInputError

MLFLOW_INSTALL = "pip install -e '.[mlflow]'"


@dataclass
class TensorBoardOptions:
    pass


@dataclass
class CSVOptions:
    pass


@dataclass
class MLflowOptions:
    tracking_uri: Optional[str] = None  # null: sqlite:///<run dir>/mlflow.db, no server
    experiment: str = "nas-lightning"


@dataclass
class LoggerConfig:
    tensorboard: Optional[TensorBoardOptions] = None
    csv: Optional[CSVOptions] = None
    mlflow: Optional[MLflowOptions] = None

    def __post_init__(self) -> None:
        if self.mlflow is not None and importlib.util.find_spec("mlflow") is None:
            raise UserInputError(f"logger=mlflow: the mlflow package is not installed; install it with {MLFLOW_INSTALL}")
        if self.mlflow is not None and not self.mlflow.experiment:
            raise UserInputError("logger.mlflow.experiment: must be a non-empty name")

    @property
    def names(self) -> list[str]:
        return [name for name in ("tensorboard", "csv", "mlflow") if getattr(self, name) is not None]


_mlflow_runs: dict[Path, str] = {}  # run directory -> its MLflow run id, shared by the stages' loggers


def make_loggers(cfg: LoggerConfig, out_dir: Path, stage: str) -> list:
    """The Lightning loggers of one stage's Trainer."""
    from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger

    loggers = []
    if cfg.tensorboard is not None:
        loggers.append(TensorBoardLogger(str(out_dir), name="tb", version=stage))
    if cfg.csv is not None:
        loggers.append(CSVLogger(str(out_dir), name="csv", version=stage))
    if cfg.mlflow is not None:
        key = Path(out_dir).resolve()
        uri = cfg.mlflow.tracking_uri or f"sqlite:///{key / 'mlflow.db'}"
        logger = MLFlowLogger(cfg.mlflow.experiment, run_name=key.name, tracking_uri=uri, run_id=_mlflow_runs.get(key),
                              artifact_location=(key / "mlartifacts").as_uri())
        _mlflow_runs[key] = logger.run_id
        loggers.append(logger)
    return loggers


def log_outcome(loggers: list, figures: dict[str, float], texts: dict[str, str]) -> None:
    """Figures as metrics and architectures as hyperparameters, to every logger (MLflow keeps a parameter
    once: each key is written by one stage only)."""
    for logger in loggers:
        logger.log_hyperparams(texts)
        logger.log_metrics(figures)
        logger.save()
