"""One LightningDataModule for every stage, serving in-memory tensors.

Batches are gathered by index tensors (no per-sample Python work, no collate). ``phase="search"``
makes the training loader yield ``{"weights": batch, "alphas": batch}`` from two disjoint halves of
the training split (DARTS's bilevel split); ``phase="train"`` yields plain batches of the training
split and ``phase="train+val"`` of the training and validation splits together (the final fit).
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, SequentialSampler

from .config import DataConfig
from .sources import load_splits
from .splits import DataSplits, normalise, snap_to_int8_grid


class IndexedTensors(Dataset):
    """Indexed by a whole list of indices at once (used with a BatchSampler as sampler)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx):
        idx = torch.as_tensor(idx)
        return self.x[idx], self.y[idx]


class EpochBatchSampler(Sampler):
    """Shuffled index batches whose order is a function of (seed, epoch) only, so a run resumed
    from a checkpoint replays the same order (Lightning calls ``set_epoch``). Under DDP each rank
    takes an equal, disjoint share of the samples, like ``DistributedSampler`` (the DDP trainer
    configs set ``use_distributed_sampler: false`` so Lightning does not shard a second time)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self) -> tuple[int, int, int]:
        """(rank, world size, samples per rank)."""
        distributed = dist.is_available() and dist.is_initialized()
        rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
        return rank, world, max(1, self.n // world)

    def __len__(self) -> int:
        per_rank, b = self._shard()[2], self.batch_size
        return per_rank // b if per_rank > b else 1  # a lone sample in a training batch breaks BatchNorm

    def __iter__(self):
        rank, world, per_rank = self._shard()
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=gen)[rank::world][:per_rank].tolist()
        b = self.batch_size
        yield from (order[i * b : (i + 1) * b] for i in range(len(self)))


class TimeSeriesDataModule(L.LightningDataModule):
    def __init__(self, cfg: DataConfig, seed: int, phase: str = "train", splits: DataSplits | None = None):
        super().__init__()
        self.cfg, self.seed, self.phase = cfg, seed, phase
        if splits is None:
            splits = normalise(load_splits(cfg, seed))
            if cfg.grid_percentile is not None:  # auto: the input_grid stage snaps them once the model is known
                splits = snap_to_int8_grid(splits, cfg.grid_percentile)
        self.splits = splits
        s = self.splits
        self.tensors = {
            name: (torch.from_numpy(getattr(s, f"x_{name}")), torch.from_numpy(getattr(s, f"y_{name}")))
            for name in ("train", "val", "test")
        }

    def with_phase(self, phase: str) -> "TimeSeriesDataModule":
        """Same data, loaded once, for another stage."""
        return TimeSeriesDataModule(self.cfg, self.seed, phase, self.splits)

    @property
    def num_channels(self) -> int:
        return self.splits.x_train.shape[1]

    @property
    def input_length(self) -> int:
        return self.splits.x_train.shape[2]

    @property
    def num_classes(self) -> int:
        return len(self.splits.class_names)

    def _loader(self, x: torch.Tensor, y: torch.Tensor, shuffle: bool, salt: int = 0) -> DataLoader:
        ds = IndexedTensors(x, y)
        if shuffle:
            sampler = EpochBatchSampler(len(ds), self.cfg.batch_size, self.seed * 1000 + salt)
        else:
            sampler = BatchSampler(SequentialSampler(ds), self.cfg.batch_size, drop_last=False)
        return DataLoader(ds, sampler=sampler, batch_size=None)

    def steps_per_epoch(self) -> int:
        """Training batches per epoch in this phase (one process): what step budgets divide by."""
        loader = self.train_dataloader()
        if isinstance(loader, CombinedLoader):  # max_size_cycle: as long as its longest half
            return max(len(part) for part in loader.iterables.values())
        return len(loader)

    def fit_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """What this phase trains on: the training split, or training and validation splits together."""
        x, y = self.tensors["train"]
        if self.phase == "train+val":
            x, y = torch.cat([x, self.tensors["val"][0]]), torch.cat([y, self.tensors["val"][1]])
        return x, y

    def train_dataloader(self):
        x, y = self.fit_tensors()
        if self.phase != "search":
            return self._loader(x, y, shuffle=True)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.seed))
        half = len(y) // 2
        w_idx, a_idx = order[:half], order[half:]
        loaders = {
            "weights": self._loader(x[w_idx], y[w_idx], shuffle=True, salt=1),
            "alphas": self._loader(x[a_idx], y[a_idx], shuffle=True, salt=2),
        }
        return CombinedLoader(loaders, mode="max_size_cycle")

    def val_dataloader(self):
        x, y = self.tensors["val"]
        if self.phase == "search":  # the supernet's BN uses batch statistics even in eval: a batch must
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.seed))  # mix classes
            x, y = x[order], y[order]
        return self._loader(x, y, shuffle=False)

    def test_dataloader(self):
        return self._loader(*self.tensors["test"], shuffle=False)

    def calibration_batches(self, count: int) -> list[torch.Tensor]:
        """The first ``count`` training batches, in file order: int8 calibration data."""
        x, _ = self.tensors["train"]
        b = self.cfg.batch_size
        return [x[i : i + b] for i in range(0, min(len(x), count * b), b)]
