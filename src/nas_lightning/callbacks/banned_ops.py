"""Removes primitives from the search (NPU devices: local average pooling, which TI's NPU runs only
as a global pool): their alphas are pinned to a large negative value, so softmax gives them zero
weight in the supernet and derivation never picks them. Pinned again after every batch, because
the alpha optimizer's weight decay would otherwise pull them back slowly."""

from __future__ import annotations

import lightning as L
import torch

from ..search_space.ops import PRIMITIVES

PINNED = -1e4


class BannedOps(L.Callback):
    def __init__(self, names: list[str]):
        self.columns = [PRIMITIVES.index(n) for n in names]

    def _pin(self, pl_module) -> None:
        with torch.no_grad():
            for alpha in pl_module.alphas_by_cell().values():
                alpha[:, self.columns] = PINNED

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        self._pin(pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._pin(pl_module)
