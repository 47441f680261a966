"""Select stage: the model to deploy, chosen by cross-validation on train+val, never by the test split.

Why: the argmax of the alphas is about as good as a random genotype of the space, and on 40-100
series one validation split ranks models by noise. So the searched genotype, the other genotypes
the supernet derived (``select.alternatives``), the FCN baseline and TI's standard models that fit
the device are each trained from scratch on stratified folds (``cross_validation.py``) with the
retrain's recipe. Successive halving keeps the cost down: rung 0 trains every candidate at 1/eta^(R-1)
of the budget, each later rung the best 1/eta of the previous one at eta times the budget, the last
at the full budget. The choice is the smallest candidate (deployed parameters; under mode=Latency the
fastest by the device's latency estimate) whose CV accuracy at
the last rung is within ``select.tolerance`` of the best (or one standard error, ``rule: one_se``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig, select_record
from ..data.datamodule import TimeSeriesDataModule
from ..devices import Device
from ..search_space.architecture import Architecture, arch_cost, arch_memory
from ..search_space.baseline import baseline_genotype, baseline_spec
from ..search_space.chain import Chain
from ..search_space.layout import NetShape
from ..search_space.standard import STANDARD_MODELS, standard_model
from .cross_validation import FoldPool, make_folds
from .fold_record import FoldRecord

log = logging.getLogger(__name__)
NPU_MIN_POOLED_LENGTH = 3  # the NPU's global average pool needs H x W > 2
SCREENING_FOLDS = 3  # folds of the rungs before the last


@dataclass(eq=False)  # compared by identity
class Candidate:
    name: str
    origin: str  # "searched" | "baseline" | "standard"
    arch: Architecture
    shape: NetShape
    params: int = 0  # deployed (BN folded)
    macs: int = 0
    flash_kb: float = 0.0
    latency_us: float | None = None  # estimated on the device (None: no latency model)
    by_latency: bool = False  # mode=Latency: "smaller" means faster on the device
    scores: dict[int, list[float]] = field(default_factory=dict)  # rung -> held-out accuracy per fold

    @property
    def size(self) -> float:
        """What "smaller" means for the choice: deployed params, or the estimated latency under mode=Latency."""
        return self.latency_us if self.by_latency else self.params

    def mean(self, rung: int) -> float:
        return float(np.mean(self.scores[rung]))

    def sd(self, rung: int) -> float:
        return float(np.std(self.scores[rung], ddof=1)) if len(self.scores[rung]) > 1 else 0.0

    def last_rung(self) -> int:
        return max(self.scores, default=-1)


@dataclass
class Selected:
    name: str
    arch: Architecture
    shape: NetShape
    info: dict  # report.json's "select" block


def _runs_on(device: Device, arch: Architecture, shape: NetShape) -> bool:
    """Within the device's memory, and (NPU) a global pool over more than 2 samples."""
    if device.over(arch_memory(arch, shape)):
        return False
    if isinstance(arch, Chain) and device.cfg.has_npu and arch.head == "gap":
        return arch.place(shape.channels, shape.length)[-1].length_out >= NPU_MIN_POOLED_LENGTH
    return True


def candidates(cfg: RunConfig, device: Device, searched: Architecture | None, shape: NetShape,
               alternatives: list) -> list[Candidate]:
    found: list[Candidate] = []
    origins = cfg.select.origins
    if "searched" in origins and searched is not None:
        found.append(Candidate("searched", "searched", searched, shape))
        found += [Candidate(f"searched_alt{i}", "searched", g, shape) for i, g in enumerate(alternatives, start=1)]
    if "baseline" in origins:
        spec, _ = device.fit_spec(baseline_spec(cfg.model.width))
        found.append(Candidate("baseline", "baseline", baseline_genotype(cfg.model.width), shape.with_spec(spec)))
    if "standard" in origins:
        found += [Candidate(name, "standard", standard_model(name), shape) for name in STANDARD_MODELS]
    kept = []
    for c in found:
        if not _runs_on(device, c.arch, c.shape):
            log.info("select: %s left out (does not run on %s at this input)", c.name, device.cfg.name)
            continue
        cost = arch_cost(c.arch, c.shape)
        c.params, c.macs, c.flash_kb = cost.deployed, cost.macs, arch_memory(c.arch, c.shape).flash_bytes / 1024
        c.latency_us = device.cfg.latency.estimate_us(cost) if device.cfg.latency.known else None
        c.by_latency = cfg.mode.name == "Latency"
        limit = cfg.select.max_latency_us
        if limit is not None and c.latency_us is not None and c.latency_us > limit and c.origin != "searched":
            log.info("select: %s left out (estimated %.0f us on %s > select.max_latency_us=%g)", c.name,
                     c.latency_us, device.cfg.name, limit)
            continue
        kept.append(c)
    return kept


def promising(pool: list[Candidate], rung: int, eta: int) -> list[Candidate]:
    """The candidates worth a larger budget: those no smaller candidate matches or beats (the front of
    CV accuracy against size: small networks learn slower per epoch, so a short rung ranks them low,
    and they are the ones the choice prefers), topped up with the next most accurate to at least
    1 / eta of the pool. A dominated candidate is dropped: a smaller one does as well at this budget."""
    front = [c for c in pool if not any(o.size < c.size and o.mean(rung) >= c.mean(rung) for o in pool)]
    ranked = [c for c in sorted(pool, key=lambda c: (-c.mean(rung), c.size)) if c not in front]
    keep = front + ranked[: max(0, math.ceil(len(pool) / eta) - len(front))]
    return [c for c in pool if c in keep]


def choose(pool: list[Candidate], rung: int, rule: str, tolerance: float) -> tuple[Candidate, Candidate, dict]:
    """(chosen, best, each candidate's bar): the smallest candidate whose CV accuracy is at or above the
    bar the best sets. ``tolerance``: best - tolerance; ``one_se``: best - its standard error (ESL);
    ``paired_se``: best - tolerance - the standard error of the candidate's fold-by-fold gap to the best
    (every candidate is scored on the same folds, so the paired gap is what says "worse than the best")."""
    best = max(pool, key=lambda c: (c.mean(rung), -c.size))
    top = np.asarray(best.scores[rung])

    def bar(c: Candidate) -> float:
        if rule == "tolerance":
            margin = tolerance
        elif rule == "one_se":
            margin = best.sd(rung) / math.sqrt(len(top))
        else:
            gap = top - np.asarray(c.scores[rung])
            margin = tolerance + (float(np.std(gap, ddof=1)) / math.sqrt(len(gap)) if len(gap) > 1 else 0.0)
        return best.mean(rung) - margin - 1e-9

    bars = {c.name: bar(c) for c in pool}
    chosen = min((c for c in pool if c.mean(rung) >= bars[c.name]), key=lambda c: (c.size, -c.mean(rung)))
    return chosen, best, bars


def _halving(cfg: RunConfig, dm: TimeSeriesDataModule, pool: list[Candidate], folds,
             record: FoldRecord) -> tuple[list[dict], bool]:
    """Scores the rungs into the candidates; returns (the rungs run, whether select.max_minutes cut them).
    Screening rungs use the first ``SCREENING_FOLDS`` folds, the last rung all; each rung fits its
    cheapest candidates first (MACs), so a time cap leaves out the costly ones. A candidate is not started
    when its CV, timed in its previous rung and scaled by budget share x folds, would end past the cap (a
    cap checked only between candidates let one ACSF1 candidate run the stage 69 s over its 5 minutes).
    Folds in ``record`` (a resumed run's) are not fitted again; each new one is added to it."""
    s = cfg.select
    stage_start = time.perf_counter() - record.elapsed  # a resumed stage counts the time spent before the kill
    deadline = None if s.max_minutes is None else stage_start + 60 * s.max_minutes
    seconds_per_work: dict[str, float] = {}  # a candidate's last CV time per unit of budget share x folds
    rungs, capped = [], False
    with FoldPool(max(1, torch.get_num_threads())) as fits:
        for rung in range(s.rungs):
            last = rung == s.rungs - 1
            share = float(s.eta) ** (rung - (s.rungs - 1))
            if rung > 0:
                pool = promising(pool, rung - 1, s.eta)
                if len(pool) == 1:
                    break
            pairs = folds.pairs if last else folds.pairs[:SCREENING_FOLDS]
            log.info("select: rung %d, %d candidates x %d folds at %.0f%% of the training budget", rung, len(pool),
                     len(pairs), 100 * share)
            scored = []
            work = share * len(pairs)
            for c in sorted(pool, key=lambda c: c.macs):
                expected = seconds_per_work.get(c.name, 0.0) * work
                if deadline is not None and time.perf_counter() + expected > deadline:
                    capped = True
                    log.warning("select: select.max_minutes=%g reached in rung %d: %s not scored there", s.max_minutes,
                                rung, ", ".join(o.name for o in pool if o not in scored))
                    break
                started, arch = time.perf_counter(), str(c.arch)
                known = record.known(rung, c.name, arch, share, len(pairs))

                def add(fold: int, acc: float, c=c, arch=arch) -> None:
                    record.add_fold(rung, c.name, arch, share, fold, acc, time.perf_counter() - stage_start)

                c.scores[rung] = fits.cross_validate(cfg, c.arch, c.shape, dm.splits, replace(folds, pairs=pairs), share,
                                                     known, add)
                recorded = record.seconds_of(rung, c.name) if len(known) == len(pairs) else None
                seconds = recorded if recorded is not None else time.perf_counter() - started
                record.add_seconds(rung, c.name, seconds)
                seconds_per_work[c.name] = seconds / work
                scored.append(c)
                log.info("  %-14s %6d params: CV acc %.3f ± %.3f", c.name, c.params, c.mean(rung), c.sd(rung))
            rungs.append({"rung": rung, "budget_share": share, "folds": len(pairs),
                          "candidates": [c.name for c in scored]})
            if capped:
                break
    return rungs, capped


def select_stage(cfg: RunConfig, dm: TimeSeriesDataModule, device: Device, searched: Architecture | None,
                 shape: NetShape, alternatives: list, out_dir: Path) -> Selected:
    s = cfg.select
    started = time.perf_counter()
    everyone = candidates(cfg, device, searched, shape, alternatives)
    folds = make_folds(dm.splits, s.folds, s.repeats, cfg.seed)
    if folds is None or len(everyone) < 2:
        reason = "a class has fewer than 2 series in train+val" if folds is None else "fewer than 2 candidates"
        log.warning("select: skipped (%s); the searched network is kept", reason)
        return Selected("darts", searched, shape, {"skipped": reason})
    record = FoldRecord(select_record(out_dir), bool(cfg.resume))
    if record.folds:
        log.info("select: %d fold fits kept from before the resume", len(record.folds))
    rungs, capped = _halving(cfg, dm, list(everyone), folds, record)
    decided = max(r["rung"] for r in rungs if len(r["candidates"]) >= 2 or r["rung"] == 0)
    finalists = [c for c in everyone if decided in c.scores]
    chosen, best, bars = choose(finalists, decided, s.rule, s.tolerance)
    info = {
        "folds": folds.folds, "repeats": folds.repeats, "rule": s.rule, "tolerance": s.tolerance, "eta": s.eta,
        "rungs": rungs, "decided_at_rung": decided, "stopped_by_time_cap": capped, "chosen": chosen.name,
        "best": best.name, "seconds": round(time.perf_counter() - started, 2),
        "candidates": [_row(c, c is chosen, bars.get(c.name)) for c in everyone],
    }
    name = "darts" if chosen.origin == "searched" else chosen.name
    log.info("select: chose %s (%d params, CV %.3f; best %s CV %.3f)", chosen.name, chosen.params,
             chosen.mean(decided), best.name, best.mean(decided))
    return Selected(name, chosen.arch, chosen.shape, info)


def _row(c: Candidate, chosen: bool, bar: float | None) -> dict:
    rung = c.last_rung()
    scored = rung >= 0
    return {"name": c.name, "origin": c.origin, "architecture": str(c.arch), "params_deployed": c.params,
            "macs": c.macs, "flash_kb": round(c.flash_kb, 2), "rung": rung,
            "latency_us": None if c.latency_us is None else round(c.latency_us, 1),
            "cv_mean": round(c.mean(rung), 4) if scored else None, "cv_sd": round(c.sd(rung), 4) if scored else None,
            "cv_folds": [round(a, 4) for a in c.scores.get(rung, [])],
            "bar": None if bar is None else round(bar, 4), "chosen": chosen}
