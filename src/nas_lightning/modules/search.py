"""DARTSSearchModule: bilevel search with manual optimization.

Per batch: an architecture step on a batch of the alpha half (gradients for alphas only, first
order or unrolled), then a weight step on the weight half (alphas detached, so no alpha gradients
are computed there). The first ``warmup_steps`` batches make weight steps only; the weight learning
rate follows a cosine over all ``total_steps`` batches. Weight batches are augmented like the
retrain's (``augment``), so the supernet does not memorise a small weight half and leave the
alphas nothing to learn from; alpha batches are not. The alpha step minimises the validation loss plus
every term of ``alpha_terms`` (resource penalty, memory budget, β-DARTS decay: alpha_terms.py). After every
validation after the warm-up the genotype is derived; the one with the lowest validation loss is
kept (not the last: DARTS drifts to skip_connect late; not the best accuracy: a dozen validation
series reach 100 % early and stay there). How far the alphas moved (mean op entropy per cell type,
first and last step) is kept in ``entropy``.

Under DDP the alpha forward runs on the bare supernet (not through the DDP wrapper) and its
gradients are averaged explicitly with ``strategy.reduce``; the weight step's gradients are
averaged by DDP in ``manual_backward``. Each step leaves the other half of the parameters
without gradients, hence ``find_unused_parameters`` in the DDP trainer configs.
"""

from __future__ import annotations

import json

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from ..config import ALPHA_TRAVEL, AugmentConfig, SearchConfig
from ..data.augment import augment, batch_seed
from ..search_space.architecture import Architecture, arch_from_dict
from ..search_space.chain_supernet import ChainSuperNet
from ..search_space.supernet import SuperNet, mean_entropy
from .alpha_terms import BetaDecay
from .architect import unrolled_alpha_grads


class DARTSSearchModule(L.LightningModule):
    def __init__(self, supernet: SuperNet | ChainSuperNet, cfg: SearchConfig, num_classes: int, total_steps: int,
                 augment_cfg: AugmentConfig | None = None, seed: int = 0, alpha_terms: list = ()):
        super().__init__()
        self.alpha_terms = list(alpha_terms) + ([BetaDecay(cfg.beta_decay, total_steps)] if cfg.beta_decay > 0 else [])
        self.augment, self.seed = augment_cfg or AugmentConfig(), seed
        self.total_steps = total_steps
        self.warmup_steps = min(int(cfg.warmup * total_steps), total_steps - 1)
        self.automatic_optimization = False
        self.supernet, self.cfg = supernet, cfg
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.best_val_acc = -1.0
        self.best_val_loss = float("inf")
        self.val_loss = MeanMetric()
        self.entropy: dict[str, list[float]] = {}  # cell type -> [first, last]
        self.validated: list[tuple[float, str]] = []  # (supernet val loss, genotype JSON) per validation
        self.best_genotype: Architecture | None = None
        self.best_epoch = -1
        self.rank_alpha_diff = 0.0  # max |alpha(rank r) - alpha(rank 0)| at the end of training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x)

    def configure_optimizers(self):
        c = self.cfg
        w_opt = torch.optim.SGD(
            self.supernet.weight_parameters(), c.w_lr, momentum=c.w_momentum, weight_decay=c.w_weight_decay
        )
        alpha_lr = c.alpha_lr or ALPHA_TRAVEL / (self.total_steps - self.warmup_steps)
        a_opt = torch.optim.Adam(
            self.supernet.arch_parameters(), alpha_lr, betas=tuple(c.alpha_betas), weight_decay=c.alpha_weight_decay
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=self.total_steps, eta_min=c.w_lr_min)
        return [w_opt, a_opt], [sched]

    def batch_number(self, batch_idx: int) -> int:
        """Batches done before this one over the whole search (the same after a resume)."""
        return self.current_epoch * self.trainer.num_training_batches + batch_idx

    def mean_entropy(self) -> dict[str, float]:
        return {t: float(mean_entropy(torch.softmax(a.detach(), -1))) for t, a in self.alphas_by_cell().items()}

    def alphas_by_cell(self) -> dict[str, torch.Tensor]:
        """The alpha logits by group, banned choices at -inf, in the graph of the alpha parameters: by cell
        type (cells) or by choice (chain: op, width, stride)."""
        return self.supernet.logit_groups()

    def _alpha_step(self, a_opt, weight_batch, alpha_batch, batch: int) -> tuple[dict, dict]:
        """One architecture step; returns (the alpha loss to log per step, the terms' values to log per
        epoch), logged by the caller with the weight step's values."""
        alphas = self.supernet.arch_parameters()
        if self.cfg.unrolled:
            lr = self.optimizers()[0].param_groups[0]["lr"]
            grads, loss = unrolled_alpha_grads(self.supernet, weight_batch, alpha_batch, lr, self.cfg.w_weight_decay)
        else:
            x, y = alpha_batch
            loss = F.cross_entropy(self.supernet(x), y)
            grads = torch.autograd.grad(loss, alphas)
        extra, by_cell, terms = None, self.alphas_by_cell(), {}
        for term in self.alpha_terms:
            term_loss, logs = term(by_cell, batch)
            extra = term_loss if extra is None else extra + term_loss
            terms.update({k: v.detach() for k, v in logs.items()})
        if extra is not None and extra.requires_grad:  # edge betas take none of these terms
            grads = [g if e is None else g + e for g, e in zip(grads, torch.autograd.grad(extra, alphas, allow_unused=True))]
        for a, g in zip(alphas, grads):
            a.grad = self.trainer.strategy.reduce(g.detach(), reduce_op="mean")
        a_opt.step()
        a_opt.zero_grad(set_to_none=True)  # the weight step's DDP reducer must find alphas without gradients
        return {"search/alpha_loss": loss.detach()}, terms

    def training_step(self, batch, batch_idx):
        w_opt, a_opt = self.optimizers()
        a_opt.zero_grad(set_to_none=True)
        number = self.batch_number(batch_idx)
        if number == 0:
            self.entropy = {t: [h, h] for t, h in self.mean_entropy().items()}
        alpha_stats, terms = {}, {}
        if number >= self.warmup_steps:
            alpha_stats, terms = self._alpha_step(a_opt, batch["weights"], batch["alphas"], number)

        x, y = batch["weights"]
        w_opt.zero_grad(set_to_none=True)
        logits = self.supernet(augment(x, self.augment, batch_seed(self.seed, number)), detach_alphas=True)
        loss = F.cross_entropy(logits, y)
        self.manual_backward(loss)
        self.clip_gradients(w_opt, gradient_clip_val=self.cfg.grad_clip, gradient_clip_algorithm="norm")
        w_opt.step()

        self.train_acc(logits.detach(), y)
        self.log_dict(
            {"search/weight_loss": loss.detach(), **alpha_stats, "search/train_acc": self.train_acc},
            on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True,
        )
        if terms:
            self.log_dict(terms, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True)
        self.log("search/w_lr", w_opt.param_groups[0]["lr"], on_step=True, on_epoch=False)
        self.lr_schedulers().step()

    def on_train_end(self) -> None:
        """Proof that DDP kept the ranks in step: the alphas every rank holds, compared."""
        flat = torch.cat([a.detach().flatten() for a in self.supernet.arch_parameters()])
        gathered = self.all_gather(flat).reshape(-1, flat.numel())
        self.rank_alpha_diff = float((gathered - gathered[0]).abs().max())
        for t, h in self.mean_entropy().items():
            self.entropy.setdefault(t, [h, h])[1] = h

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.supernet(x)
        self.val_acc.update(logits, y)
        self.val_loss.update(F.cross_entropy(logits, y), weight=len(y))

    def on_validation_epoch_end(self) -> None:
        acc = float(self.val_acc.compute())
        loss = float(self.val_loss.compute())  # weighted by batch size, synchronised across DDP ranks
        self.val_acc.reset()
        self.val_loss.reset()
        self.log_dict({"search/val_acc": acc, "search/val_loss": loss}, prog_bar=True, sync_dist=True)
        warmed_up = self.batch_number(self.trainer.num_training_batches) > self.warmup_steps
        if self.trainer.sanity_checking or not warmed_up:
            return
        genotype = self.supernet.genotype(self.cfg.max_skip)
        self.validated.append((loss, genotype.to_json()))
        if loss <= self.best_val_loss:  # ties go to the later, longer-searched alphas
            self.best_val_loss, self.best_val_acc, self.best_epoch = loss, acc, self.current_epoch
            self.best_genotype = genotype

    def alternatives(self, count: int) -> list[Architecture]:
        """Up to ``count`` other genotypes the supernet derived at its validations, by validation loss:
        the select stage's alternatives to the kept one."""
        kept = self.best_genotype.to_json() if self.best_genotype is not None else None
        seen, out = {kept}, []
        for _, data in sorted(self.validated, key=lambda v: v[0]):
            if data not in seen and len(out) < count:
                seen.add(data)
                out.append(arch_from_dict(json.loads(data), "search"))
        return out

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_genotype"] = None if self.best_genotype is None else self.best_genotype.to_json()
        checkpoint["best_val_acc"], checkpoint["best_epoch"] = self.best_val_acc, self.best_epoch
        checkpoint["best_val_loss"], checkpoint["alpha_entropy"] = self.best_val_loss, self.entropy
        checkpoint["validated"] = self.validated

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        data = checkpoint.get("best_genotype")
        self.best_genotype = None if data is None else arch_from_dict(json.loads(data), "checkpoint")
        self.best_val_acc, self.best_epoch = checkpoint.get("best_val_acc", -1.0), checkpoint.get("best_epoch", -1)
        self.best_val_loss = checkpoint.get("best_val_loss", float("inf"))
        self.entropy = checkpoint.get("alpha_entropy", {})
        self.validated = [tuple(v) for v in checkpoint.get("validated", [])]
