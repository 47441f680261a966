"""The genotype: which op and which input each node of the normal and reduction cell uses.

A plain record that prints, saves and loads as JSON. Inputs are numbered 0 = cell input,
k = node k (1-based), so node k may only read an input < k.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic_files import write_atomically
from ..errors import UserInputError
from .ops import PRIMITIVES

CELL_TYPES = ("normal", "reduce")


@dataclass(frozen=True)
class Genotype:
    normal: list[tuple[str, int]]
    reduce: list[tuple[str, int]]
    normal_concat: list[int]
    reduce_concat: list[int]
    meta: dict = field(default_factory=dict, compare=False)

    def cell(self, cell_type: str) -> tuple[list[tuple[str, int]], list[int]]:
        return getattr(self, cell_type), getattr(self, f"{cell_type}_concat")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def __str__(self) -> str:
        parts = []
        for t in CELL_TYPES:
            nodes, concat = self.cell(t)
            body = ", ".join(f"{k + 1}={op}({src})" for k, (op, src) in enumerate(nodes))
            parts.append(f"{t}[{body}; concat {list(concat)}]")
        return " ".join(parts)

    @classmethod
    def from_dict(cls, data: object, source: str = "genotype") -> "Genotype":
        """Build and validate; every problem is a one-line UserInputError naming ``source``."""
        if not isinstance(data, dict):
            raise UserInputError(f"{source}: expected a JSON object with keys normal, reduce, normal_concat, reduce_concat")
        cells = {}
        for t in CELL_TYPES:
            nodes = data.get(t)
            concat = data.get(f"{t}_concat")
            if not isinstance(nodes, list) or not nodes:
                raise UserInputError(f"{source}: '{t}' must be a non-empty list of [op, input] pairs")
            parsed = []
            for k, item in enumerate(nodes, start=1):
                if not (isinstance(item, (list, tuple)) and len(item) == 2):
                    raise UserInputError(f"{source}: {t} node {k} must be [op, input], got {item!r}")
                op, src = item
                if op not in PRIMITIVES or op == "none":
                    allowed = ", ".join(p for p in PRIMITIVES if p != "none")
                    raise UserInputError(f"{source}: {t} node {k} has unknown op {op!r}; allowed: {allowed}")
                if not isinstance(src, int) or isinstance(src, bool) or not 0 <= src < k:
                    raise UserInputError(f"{source}: {t} node {k} input {src!r} is invalid; allowed: 0..{k - 1}")
                parsed.append((op, src))
            if (
                not isinstance(concat, list)
                or not concat
                or len(set(concat)) != len(concat)
                or not all(isinstance(c, int) and 1 <= c <= len(parsed) for c in concat)
            ):
                raise UserInputError(f"{source}: '{t}_concat' must list distinct node numbers in 1..{len(parsed)}")
            cells[t], cells[f"{t}_concat"] = parsed, sorted(concat)
        meta = data.get("meta", {})
        return cls(**cells, meta=meta if isinstance(meta, dict) else {})

    @classmethod
    def load(cls, path: str | Path) -> "Genotype":
        return cls.from_dict(read_record(path), source=f"genotype={path}")

    def save(self, path: str | Path) -> None:
        write_atomically(path, self.to_json() + "\n")


def read_record(path: str | Path) -> object:
    """The JSON in an architecture file (``genotype=``), or a one-line UserInputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"genotype={path}: file not found")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserInputError(f"genotype={path}: not valid JSON ({err.__class__.__name__}: {err})") from None
    except RecursionError:
        raise UserInputError(f"genotype={path}: nested too deep to be a genotype") from None
