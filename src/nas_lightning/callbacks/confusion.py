"""Draws the test confusion matrix the retrain module computed: ``confusion_matrix.png`` in the run
directory and the same image in TensorBoard (rank 0 only)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from matplotlib.figure import Figure


def confusion_figure(matrix: list[list[int]], class_names: list[str]) -> Figure:
    n = len(class_names)
    fig = Figure(figsize=(2.0 + 0.6 * n, 1.6 + 0.5 * n), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > peak / 2 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("test confusion matrix", fontsize=9)
    fig.colorbar(image, ax=ax)
    return fig


class ConfusionMatrixPlot(L.Callback):
    def __init__(self, out_dir: Path, class_names: list[str]):
        self.path, self.class_names = Path(out_dir) / "confusion_matrix.png", list(class_names)

    def on_test_end(self, trainer: L.Trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        fig = confusion_figure(pl_module.test_report["confusion_matrix"], self.class_names)
        fig.savefig(self.path, dpi=120)
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_figure"):
                experiment.add_figure("test/confusion_matrix", fig, trainer.global_step)
