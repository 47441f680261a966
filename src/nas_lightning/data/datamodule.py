"""One LightningDataModule for every stage, serving in-memory tensors.

Batches are gathered by index tensors (no per-sample Python work, no collate). ``phase="search"``
makes the training loader yield ``{"weights": batch, "alphas": batch}`` from two disjoint halves of
the training split (DARTS's bilevel split); ``phase="train"`` yields plain batches.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from .config import DataConfig
from .sources import load_splits
from .splits import DataSplits, normalise


class IndexedTensors(Dataset):
    """Indexed by a whole list of indices at once (used with a BatchSampler as sampler)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx):
        idx = torch.as_tensor(idx)
        return self.x[idx], self.y[idx]


class TimeSeriesDataModule(L.LightningDataModule):
    def __init__(self, cfg: DataConfig, seed: int, phase: str = "train", splits: DataSplits | None = None):
        super().__init__()
        self.cfg, self.seed, self.phase = cfg, seed, phase
        self.splits = splits if splits is not None else normalise(load_splits(cfg, seed))
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
            gen = torch.Generator().manual_seed(self.seed * 1000 + salt)
            base = RandomSampler(ds, generator=gen)
        else:
            base = SequentialSampler(ds)
        batch = self.cfg.batch_size
        # a lone sample in a training batch breaks BatchNorm: drop the ragged tail when training
        sampler = BatchSampler(base, batch, drop_last=shuffle and len(ds) > batch)
        return DataLoader(ds, sampler=sampler, batch_size=None)

    def train_dataloader(self):
        x, y = self.tensors["train"]
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
        return self._loader(*self.tensors["val"], shuffle=False)

    def test_dataloader(self):
        return self._loader(*self.tensors["test"], shuffle=False)

    def calibration_batches(self, count: int) -> list[torch.Tensor]:
        """The first ``count`` training batches, in file order: int8 calibration data."""
        x, _ = self.tensors["train"]
        b = self.cfg.batch_size
        return [x[i : i + b] for i in range(0, min(len(x), count * b), b)]
