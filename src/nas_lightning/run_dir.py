"""The run directory's guards: usable before Hydra writes into it, one run at a time, and gone again
when a run is refused before it produced anything."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from .errors import UserInputError

RUN_MARKERS = (".hydra", "report.json", "checkpoints", "genotype.json")  # what says a directory holds a run
LOCK = ".lock"


def check_run_dir(path: str) -> None:
    """``hydra.run.dir`` must be a new or empty folder this user can write."""
    run_dir = Path(path).expanduser()
    if run_dir.exists() and not run_dir.is_dir():
        raise UserInputError(f"hydra.run.dir={path}: is a file; give a folder")
    if run_dir.is_dir() and any((run_dir / m).exists() for m in RUN_MARKERS):
        raise UserInputError(f"hydra.run.dir={path}: already holds a run; pick a new folder, or resume={path} to "
                             "continue its search")
    first_new = next((p for p in [*reversed(run_dir.parents), run_dir] if not p.exists()), None)
    try:  # the real test of "can I write there" (permissions, read-only mounts, a file on the way)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ".write_test").touch()
        (run_dir / ".write_test").unlink()
    except OSError as err:
        raise UserInputError(f"hydra.run.dir={path}: cannot write there ({err.strerror})") from None
    finally:
        if first_new is not None and first_new.exists():
            shutil.rmtree(first_new)


def remove_if_fresh(run_dir: Path) -> None:
    """After a refusal: delete the run directory when it holds nothing but what this run's start put there
    (``.hydra/`` and the log), so a refused run leaves no trace. A directory that already held a run was
    refused before Hydra touched it (``check_run_dir``), so this never deletes an earlier run's work."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "__main__.log"}:
        shutil.rmtree(run_dir)


def is_secondary_rank() -> bool:
    """A process Lightning's DDP launcher (or torchrun) started for a rank other than 0: it joins the run that
    rank 0 already checked and locked, and must not refuse rank 0's directory."""
    return any(int(os.environ.get(key, "0") or 0) > 0 for key in ("LOCAL_RANK", "RANK"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(run_dir: Path):
    """Holds ``<run_dir>/.lock`` (this process's pid) while a run writes there; a second run into the same
    directory is refused instead of mixing checkpoints and logs. A lock left by a killed run is taken over."""
    if is_secondary_rank():
        yield
        return
    path = run_dir / LOCK
    run_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            holder = path.read_text().strip()
            if holder.isdigit() and _alive(int(holder)):
                raise UserInputError(f"{run_dir}: another run (pid {holder}) is writing there; wait for it or pick "
                                     "another directory") from None
            path.unlink(missing_ok=True)
    else:
        raise UserInputError(f"{run_dir}: could not take its lock file {path}")
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
