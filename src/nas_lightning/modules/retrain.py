"""GenotypeRetrainModule: trains the fixed network of an architecture (cells or chain) from scratch, then tests it.

Automatic optimization with the recipe of ``TrainConfig`` (AdamW, the learning-rate schedule of
lr_schedule.py per step, label smoothing, optional augmentation of each training batch); the network
at the last step is the one tested and exported. Testing also yields macro F1,
per-class accuracy and the confusion matrix (``test_report``), synchronised across DDP ranks.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from ..config import AugmentConfig, TrainConfig
from ..data.augment import augment, batch_seed
from .lr_schedule import PlateauSchedule, warmup_cosine


class GenotypeRetrainModule(L.LightningModule):
    def __init__(self, net: torch.nn.Module, cfg: TrainConfig, num_classes: int, augment: AugmentConfig | None = None,
                 seed: int = 0, log_steps: bool = True):
        """``log_steps=False`` (the select stage's fold fits) logs nothing per step: on tiny networks
        the logging costs as much as the step."""
        super().__init__()
        self.net, self.cfg, self.augment, self.seed = net, cfg, augment or AugmentConfig(), seed
        self.log_steps = log_steps
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_f1 = MulticlassF1Score(num_classes, average="macro")
        self.test_class_acc = MulticlassAccuracy(num_classes, average=None)
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_report: dict = {}
        self.schedule: PlateauSchedule | None = None  # train.schedule=plateau: set with the optimizer
        self._restored_schedule: dict | None = None  # from a resumed fit's checkpoint, loaded with the optimizer
        self._epoch_loss: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def configure_optimizers(self):
        c = self.cfg
        if c.optimizer == "sgd":
            opt = torch.optim.SGD(self.parameters(), c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                                  nesterov=True)
        else:
            opt = torch.optim.AdamW(self.parameters(), c.lr, weight_decay=c.weight_decay)
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(c.warmup * total)
        if c.schedule == "plateau":
            self.schedule = PlateauSchedule(total, warmup, c.patience, c.min_delta, c.decay)
            if self._restored_schedule is not None:
                self.schedule.load_state_dict(self._restored_schedule)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, self.schedule.factor)
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, total, warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(augment(x, self.augment, batch_seed(self.seed, self.global_step)))
        loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        self._epoch_loss.append(loss.detach())
        if not self.log_steps:
            return loss
        self.train_acc(logits.detach(), y)
        self.log_dict({"train/loss": loss, "train/acc": self.train_acc}, on_step=True, on_epoch=True, prog_bar=True,
                      batch_size=len(y), sync_dist=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.schedule is not None:
            checkpoint["plateau_schedule"] = self.schedule.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Lightning restores the module before it calls ``configure_optimizers``: the schedule's state
        waits there."""
        self._restored_schedule = checkpoint.get("plateau_schedule")

    def on_train_start(self) -> None:
        """A fit resumed from its final checkpoint has nothing left to do (not even one more step)."""
        if self.schedule is not None and self.schedule.done(self.global_step):
            self.trainer.should_stop = True

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.schedule is not None and self.schedule.done(self.global_step):
            self.trainer.should_stop = True

    def on_train_epoch_end(self) -> None:
        """The plateau schedule sees the epoch's mean training loss (averaged over DDP ranks, so all
        ranks decide alike)."""
        if self._epoch_loss and self.schedule is not None:
            loss = self.trainer.strategy.reduce(torch.stack(self._epoch_loss).mean(), reduce_op="mean")
            self.schedule.end_epoch(float(loss), self.global_step)
        self._epoch_loss.clear()

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.val_acc.update(logits, y)
        self.log("val/loss", F.cross_entropy(logits, y), on_epoch=True, batch_size=len(y), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self.log("val/acc", float(self.val_acc.compute()), prog_bar=True, sync_dist=True)
        self.val_acc.reset()

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.test_acc(logits, y)
        for metric in (self.test_f1, self.test_class_acc, self.test_confusion):
            metric.update(logits, y)
        self.log_dict({"test/loss": F.cross_entropy(logits, y), "test/acc": self.test_acc}, on_epoch=True,
                      batch_size=len(y), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        f1 = float(self.test_f1.compute())
        self.log("test/macro_f1", f1, sync_dist=True)
        self.test_report = {
            "test_macro_f1": f1,
            "test_per_class_acc": [round(float(a), 4) for a in self.test_class_acc.compute()],
            "confusion_matrix": self.test_confusion.compute().tolist(),
        }
        for metric in (self.test_f1, self.test_class_acc, self.test_confusion):
            metric.reset()
