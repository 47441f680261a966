"""Schema of the ``data`` config group (all sources share it; each reads the keys it needs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import UserInputError

SOURCES = ("synthetic", "folder", "aeon")


@dataclass
class DataConfig:
    source: str = "synthetic"
    path: Optional[str] = None  # folder / zip (source=folder) or .ts file (source=aeon)
    name: Optional[str] = None  # aeon dataset name, e.g. BasicMotions
    frame_size: int = 256  # samples per window
    stride: Optional[int] = None  # window stride; None = frame_size (no overlap)
    variables: Optional[int] = None  # channels used; None = all
    split_type: str = "amongst_files"
    split_factor: list[float] = field(default_factory=lambda: [0.6, 0.3, 0.1])
    features: str = "raw"
    batch_size: int = 64
    # synthetic source only
    num_classes: int = 4
    samples_per_class: int = 300
    noise: float = 0.5

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise UserInputError(f"data.source={self.source}: allowed values are {', '.join(SOURCES)}")
        if self.batch_size < 1:
            raise UserInputError(f"data.batch_size={self.batch_size}: must be >= 1")
        if self.frame_size < 8:
            raise UserInputError(f"data.frame_size={self.frame_size}: must be >= 8")
        if len(self.split_factor) != 3 or any(f < 0 for f in self.split_factor) or abs(sum(self.split_factor) - 1) > 1e-6:
            raise UserInputError(f"data.split_factor={list(self.split_factor)}: need three non-negative shares summing to 1")
        if self.source == "synthetic" and (self.num_classes < 2 or self.samples_per_class < 10):
            raise UserInputError("data.num_classes must be >= 2 and data.samples_per_class >= 10 for synthetic data")
