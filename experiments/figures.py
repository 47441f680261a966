"""Figures for the README are files written by the command that measured them, never hand edits.

Every experiment that feeds the README writes one markdown file under ``docs/figures/`` whose first
line names the exact command, the date and the machine; ``readme_figures.py`` copies those files into
the README's marked blocks, and a test fails when a block and its file disagree.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def made_by(command: str | None = None) -> str:
    """One italic line: the command (default: this process's own), the date, cores and torch version."""
    import torch

    command = command or shlex.join(["python", *sys.argv])
    cores = len(os.sched_getaffinity(0))
    return (f"*Made by `{command}` on {datetime.date.today().isoformat()}, {cores} CPU cores "
            f"({platform.machine()}), torch {torch.__version__}.*")


def write_figure(path: Path, body: str, command: str | None = None) -> None:
    """Write ``body`` under its provenance line; the README block of ``path`` is refreshed by readme_figures.py."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{made_by(command)}\n\n{body.strip()}\n")
    print(f"wrote {path}")
