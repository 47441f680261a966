"""The range checks every config section shares: one line naming the key and what is allowed."""

from __future__ import annotations

from typing import Optional

from .errors import UserInputError


def at_least(key: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise UserInputError(f"{key}={value}: must be >= {minimum}")


def unit_interval(key: str, value: float) -> None:
    """Momentum-like values: in [0, 1) (1 never forgets, above 1 diverges)."""
    if not 0 <= value < 1:
        raise UserInputError(f"{key}={value}: must be in [0, 1)")


def share(key: str, value: float) -> None:
    if not 0 <= value < 1:
        raise UserInputError(f"{key}={value}: must be in [0, 1)")


def epochs_or_steps(section: str, epochs: Optional[int], steps: int) -> None:
    if epochs is not None:
        at_least(f"{section}.epochs", epochs, 1)
    at_least(f"{section}.steps", steps, 1)
