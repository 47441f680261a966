"""Resource penalty on the architecture step: Memory = expected deployed parameters, Compute =
expected MACs, as ``weight * ln(expected / smallest)``: the cost's logarithm, measured from the
smallest network of the space (penalty 0 there).

Why a logarithm: a linear penalty divided by the largest network spreads its gradient over every
edge of every cell, so at weight 1 each alpha felt half the systematic pull of the cross-entropy
and the search did not trade size at all (GunPoint: weight 0 -> 12.7k deployed parameters, weight
1 -> 18.4k). In log form ``weight`` reads as "nats of validation loss worth a factor e in cost":
weight 1 pays 0.69 nats to halve the model, and the pull grows as the model shrinks (gradient
``weight * d(expected) / expected``), the multiplicative trade-off of MnasNet and FBNet.

Applied as a callback: right before the alpha optimizer steps, the penalty's gradient is added
to the alphas' gradients (the penalty does not depend on the weights, so this equals optimising
CE + penalty, first or second order alike).
"""

from __future__ import annotations

import lightning as L

from ..search_space.cost import ExpectedCost


class ResourcePenalty(L.Callback):
    def __init__(self, cost: ExpectedCost, metric: str, weight: float):
        self.cost, self.metric, self.weight = cost, metric, weight
        self.smallest = cost.minimum(metric)

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module, optimizer) -> None:
        if not pl_module.is_alpha_optimizer(optimizer):
            return
        expected = self.cost(pl_module.alphas_by_cell(), self.metric)
        penalty = self.weight * (expected / self.smallest).log()
        if self.weight > 0:
            pl_module.add_alpha_gradient(penalty)
        pl_module.log_dict(
            {f"search/expected_{self.metric}": expected.detach(), "search/penalty": penalty.detach()},
            on_step=False, on_epoch=True,
        )
