"""Read-only view of a dataset given as a folder or a .zip (never extracted, so no path escapes it)."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import UserInputError


class DatasetTree:
    """Relative POSIX paths of every file under the dataset root, and their bytes."""

    def __init__(self, path: str):
        self.root = Path(path).expanduser()
        if not self.root.exists():
            raise UserInputError(f"data.path={path}: no such file or folder")
        self._zip: zipfile.ZipFile | None = None
        if self.root.is_file():
            if not zipfile.is_zipfile(self.root):
                raise UserInputError(f"data.path={path}: a file that is not a .zip; give the dataset folder or a zip of it")
            try:
                self._zip = zipfile.ZipFile(self.root)
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise UserInputError(f"data.path={path}: a broken zip ({err})") from None
            names = self._zip.namelist()
            escaping = [n for n in names if n.startswith("/") or ".." in PurePosixPath(n.replace("\\", "/")).parts]
            if escaping:
                raise UserInputError(f"data.path={path}: zip entry {escaping[0]!r} points outside the archive")
            self.files = sorted(n for n in names if not n.endswith("/"))
            self.dirs = {n.rstrip("/") for n in names if n.endswith("/")}
        else:
            paths = list(self.root.rglob("*"))
            self.files = sorted(p.relative_to(self.root).as_posix() for p in paths if p.is_file())
            self.dirs = {p.relative_to(self.root).as_posix() for p in paths if p.is_dir()}
        self.dirs |= {str(parent) for f in self.files for parent in PurePosixPath(f).parents if str(parent) != "."}
        self._set = set(self.files)

    def has(self, rel: str) -> bool:
        return rel in self._set

    def has_dir(self, rel: str) -> bool:
        return rel in self.dirs

    def subdirs(self, rel: str) -> list[str]:
        """Names of the folders directly inside ``rel`` (empty ones included)."""
        return sorted({d.split("/")[-1] for d in self.dirs if str(PurePosixPath(d).parent) == rel})

    def read(self, rel: str) -> bytes:
        if not self._zip:
            return (self.root / rel).read_bytes()
        try:  # bad CRC, truncated, encrypted, an unsupported compression method
            return self._zip.read(rel)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, zlib.error) as err:
            raise UserInputError(f"{self.label(rel)}: cannot be read from the zip ({err})") from None

    def label(self, rel: str) -> str:
        """Shown in messages: the file as the user knows it."""
        return f"{self.root}!{rel}" if self._zip else str(self.root / rel)

    def under(self, folder: str) -> list[PurePosixPath]:
        prefix = folder.rstrip("/") + "/"
        return [PurePosixPath(f[len(prefix):]) for f in self.files if f.startswith(prefix)]
