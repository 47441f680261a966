"""Resource penalty on the architecture step: Memory = expected deployed parameters, Compute =
expected MACs, both normalised by the largest network of the space and scaled by ``weight``.

Applied as a callback: right before the alpha optimizer steps, the penalty's gradient is added
to the alphas' gradients (the penalty does not depend on the weights, so this equals optimising
CE + weight * cost / max_cost, first or second order alike).
"""

from __future__ import annotations

import lightning as L

from ..search_space.cost import ExpectedCost


class ResourcePenalty(L.Callback):
    def __init__(self, cost: ExpectedCost, metric: str, weight: float):
        self.cost, self.metric, self.weight = cost, metric, weight
        self.scale = 1.0 / cost.maximum(metric)

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module, optimizer) -> None:
        if not pl_module.is_alpha_optimizer(optimizer):
            return
        expected = self.cost(pl_module.alphas_by_cell(), self.metric)
        penalty = self.weight * expected * self.scale
        if self.weight > 0:
            pl_module.add_alpha_gradient(penalty)
        pl_module.log_dict(
            {f"search/expected_{self.metric}": expected.detach(), "search/penalty": penalty.detach()},
            on_step=False, on_epoch=True,
        )
