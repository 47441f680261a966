"""Memory budget on the architecture step (limited devices): a hinge on the expected flash and SRAM
of the derived network above ``target`` x the device's, scaled by ``weight``:

    weight * (relu(E[flash] / (target * flash) - 1) + relu(E[SRAM] / (target * SRAM) - 1))

Zero while the expectation is under the target, so it only acts on a search that drifts over; the
gradient joins the alphas' like ``ResourcePenalty`` (right before the alpha optimizer steps).
"""

from __future__ import annotations

import lightning as L
import torch

from ..search_space.memory import ExpectedMemory


class MemoryBudget(L.Callback):
    def __init__(self, expected: ExpectedMemory, flash_bytes: float | None, sram_bytes: float | None,
                 weight: float, target: float):
        self.expected, self.weight = expected, weight
        self.limits = {"flash": None if flash_bytes is None else target * flash_bytes,
                       "sram": None if sram_bytes is None else target * sram_bytes}

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module, optimizer) -> None:
        if not pl_module.is_alpha_optimizer(optimizer):
            return
        values = dict(zip(("flash", "sram"), self.expected(pl_module.alphas_by_cell())))
        hinge = sum((torch.relu(values[k] / limit - 1) for k, limit in self.limits.items() if limit is not None),
                    values["flash"].new_zeros(()))
        if self.weight > 0 and hinge.requires_grad:
            pl_module.add_alpha_gradient(self.weight * hinge)
        pl_module.log_dict({"search/expected_flash_kb": values["flash"].detach() / 1024,
                            "search/expected_sram_kb": values["sram"].detach() / 1024,
                            "search/budget_hinge": hinge.detach()}, on_step=False, on_epoch=True)
