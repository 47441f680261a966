"""What the architecture step minimises besides the validation loss, each as one term: a callable on
the alphas (op logits by cell type) and the batch number, returning its loss and what to log.
``DARTSSearchModule`` adds their sum to the alpha objective; none depends on the weights, so this is
exact for first- and second-order steps alike.

- ``ResourcePenalty`` (``mode``): ``weight * ln(expected / smallest)``, the cost's logarithm measured from
  the smallest network of the space (0 there). A linear penalty divided by the largest network spread
  its gradient so thin that weight 1 traded no size at all; in log form ``weight`` reads as "nats of
  validation loss worth a factor e in cost" (MnasNet/FBNet's multiplicative trade-off). Memory =
  expected deployed parameters, Compute = expected MACs, Latency = expected µs on the device (latency.py).
- ``MemoryBudget`` (limited devices): ``weight * (relu(E[flash] / (target * flash) - 1) + relu(E[SRAM] /
  (target * SRAM) - 1))``: zero under the target, so it only acts on a search drifting over.
- ``BetaDecay`` (``search.beta_decay``, β-DARTS, Ye et al. 2022): the mean log-sum-exp of each edge's
  alphas, ramped linearly over the search. Its gradient, softmax(alpha) / edges, pulls the strongest
  ops down most, keeping the distributions from collapsing onto one op early.
"""

from __future__ import annotations

import torch

from ..search_space.cost import ExpectedCost
from ..search_space.memory import ExpectedMemory

Alphas = dict[str, torch.Tensor]


class ResourcePenalty:
    def __init__(self, cost: ExpectedCost, metric: str, weight: float):
        self.cost, self.metric, self.weight = cost, metric, weight
        self.smallest = cost.minimum(metric)

    def __call__(self, alphas: Alphas, batch: int) -> tuple[torch.Tensor, dict]:
        expected = self.cost(alphas, self.metric)
        penalty = self.weight * (expected / self.smallest).log()
        return penalty, {f"search/expected_{self.metric}": expected, "search/penalty": penalty}


class MemoryBudget:
    def __init__(self, expected: ExpectedMemory, flash_bytes: float | None, sram_bytes: float | None,
                 weight: float, target: float):
        self.expected, self.weight = expected, weight
        self.limits = {"flash": None if flash_bytes is None else target * flash_bytes,
                       "sram": None if sram_bytes is None else target * sram_bytes}

    def __call__(self, alphas: Alphas, batch: int) -> tuple[torch.Tensor, dict]:
        values = dict(zip(("flash", "sram"), self.expected(alphas)))
        hinge = sum((torch.relu(values[k] / limit - 1) for k, limit in self.limits.items() if limit is not None),
                    values["flash"].new_zeros(()))
        return self.weight * hinge, {"search/expected_flash_kb": values["flash"] / 1024,
                                     "search/expected_sram_kb": values["sram"] / 1024, "search/budget_hinge": hinge}


class BetaDecay:
    def __init__(self, weight: float, total_steps: int):
        self.weight, self.total_steps = weight, total_steps

    @staticmethod
    def loss(alphas: Alphas) -> torch.Tensor:
        return sum(torch.logsumexp(a, dim=-1).mean() for a in alphas.values())

    def __call__(self, alphas: Alphas, batch: int) -> tuple[torch.Tensor, dict]:
        decay = self.weight * (batch + 1) / self.total_steps * self.loss(alphas)
        return decay, {"search/beta_decay_loss": decay}
