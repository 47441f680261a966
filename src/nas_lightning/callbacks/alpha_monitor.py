"""Shows in TensorBoard whether a search converges or collapses: per alpha group (cell type, or a chain's
op / width / stride) the mean entropy of its distributions and the share of skip (per step and epoch),
and per epoch a probability heatmap, the derived genotype as text and the expected parameters, MACs and
latency (where the device has a latency model)."""

from __future__ import annotations

import lightning as L
import torch
from matplotlib.figure import Figure

from ..search_space.supernet import mean_entropy


def heatmap(probs: torch.Tensor, title: str, rows: list[str], cols: list[str]) -> Figure:
    """Rows (edges source → node, or chain layers) by choices, coloured by softmax(alpha)."""
    fig = Figure(figsize=(1.0 + 0.7 * len(cols), 1.2 + 0.3 * len(probs)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(probs.numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(probs)), rows, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax)
    return fig


class AlphaMonitor(L.Callback):
    def __init__(self, cost):
        """``cost``: the space's expected cost (``ExpectedCost`` or ``ExpectedChainCost``)."""
        self.cost = cost

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        stats = {}
        for t, alpha in pl_module.alphas_by_cell().items():
            probs = torch.softmax(alpha.detach(), -1)
            stats[f"alpha/entropy_{t}"] = mean_entropy(probs)
            skip = pl_module.supernet.skip_column(t)
            if skip is not None:
                stats[f"alpha/skip_share_{t}"] = probs[:, skip].mean()
        pl_module.log_dict(stats, on_step=True, on_epoch=True)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        with torch.no_grad():
            alphas = pl_module.alphas_by_cell()
            metrics = [m for m in ("params", "deployed", "macs", "latency_us") if self.cost.knows(m)]
            expected = {f"cost/expected_{m}": self.cost(alphas, m) for m in metrics}
        pl_module.log_dict(expected)  # identical on every rank: the alphas are
        if not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch
        genotype = str(pl_module.supernet.genotype(pl_module.cfg.max_skip))
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if not hasattr(experiment, "add_figure"):
                continue
            experiment.add_text("search/genotype", genotype, epoch)
            for t, alpha in alphas.items():
                probs = torch.softmax(alpha.detach().float(), -1)
                rows, cols = pl_module.supernet.alpha_labels(t)
                experiment.add_figure(f"alpha/probs_{t}", heatmap(probs, f"{t}, epoch {epoch}", rows, cols), epoch)
