"""Writes that survive a full disk: every file a run writes (checkpoints, genotype, ONNX, report) goes
to a temporary name beside it and is renamed over the target only once complete, so a write that
fails leaves the previous version whole; a full disk (ENOSPC, EDQUOT) raised anywhere becomes one line
naming the file and the free space left (``__main__``)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_atomically(path: str | Path, data: bytes | str) -> None:
    """``path`` holds ``data`` or, when the write fails, exactly what it held before."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    try:
        with open(part, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, path)
    except OSError as err:
        part.unlink(missing_ok=True)
        if err.errno in DISK_FULL:  # name the file the run was writing, not the temporary one
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from None
        raise


def disk_full_line(err: OSError, run_dir: Path) -> str:
    """The one line a full disk gets: which file, how much space is left, what to do."""
    target = Path(err.filename) if err.filename else run_dir
    probe = next((p for p in (target, *target.parents) if p.exists()), Path("."))
    free_mb = shutil.disk_usage(probe).free / 2**20
    return (f"disk full: could not write {target} ({err.strerror}; {free_mb:.1f} MB free there); files written "
            f"before are intact; free some space, then continue with resume={run_dir}")
