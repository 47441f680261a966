"""Reads one recording file (.csv, .txt, .npy) into a float64 (rows, columns) array, or refuses it.

Header row optional (detected: a first row with a non-numeric cell); columns whose header contains "time"
(any case) are dropped. ``.npy`` is loaded with ``allow_pickle=False``; ``.pkl`` is refused, never unpickled.
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import UserInputError

SUFFIXES = (".csv", ".txt", ".npy")
PICKLE_SUFFIXES = (".pkl", ".pickle")


def pickle_refusal(name: str) -> UserInputError:
    return UserInputError(
        f"{name}: pickle files are refused (loading one runs arbitrary code); convert it once with "
        "pandas.read_pickle(path).to_csv(path_without_pkl + '.csv', index=False) on a trusted machine, or save a .npy"
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _delimiter(first_line: str, suffix: str) -> str | None:
    for candidate in (",", ";", "\t") if suffix == ".csv" else ("\t", ","):
        if candidate in first_line:
            return candidate
    return None  # any whitespace


def _split(line: str, delimiter: str | None) -> list[str]:
    return [c.strip() for c in (line.split(delimiter) if delimiter else line.split())]


def _locate_bad_cell(name: str, lines: list[str], delimiter: str | None, first_row: int, width: int) -> UserInputError:
    """Slow path, only after numpy refused the file: say which row / cell is wrong."""
    for r, line in enumerate(lines):
        cells = _split(line, delimiter)
        if len(cells) != width:
            return UserInputError(f"{name}: row {first_row + r} has {len(cells)} columns, the first row has {width}")
        for c, cell in enumerate(cells):
            if not _is_number(cell):
                return UserInputError(f"{name}: row {first_row + r}, column {c + 1}: {cell!r} is not a number")
    return UserInputError(f"{name}: cannot be read as a table of numbers")


def _parse_text(name: str, text: str, suffix: str) -> tuple[np.ndarray, list[str] | None]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise UserInputError(f"{name}: the file is empty")
    delimiter = _delimiter(lines[0], suffix)
    first = _split(lines[0], delimiter)
    header = None if all(_is_number(c) for c in first) else first
    body = lines[1:] if header else lines
    if not body:
        raise UserInputError(f"{name}: no data rows")
    try:
        values = np.loadtxt(io.StringIO("\n".join(body)), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError:
        raise _locate_bad_cell(name, body, delimiter, 2 if header else 1, len(first)) from None
    if header is not None and len(header) != values.shape[1]:
        raise UserInputError(f"{name}: the header has {len(header)} names but rows have {values.shape[1]} columns")
    return values, header


def read_recording(name: str, data: bytes, suffix: str) -> tuple[np.ndarray, list[str]]:
    """(values float64 (rows, columns) without time columns, column names), checked finite in float32."""
    suffix = suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise pickle_refusal(name)
    if suffix == ".npy":
        try:
            values = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, EOFError, OSError) as err:
            raise UserInputError(f"{name}: not a plain numeric .npy array ({err or 'empty file'})") from None
        if not isinstance(values, np.ndarray):  # an .npz archive under a .npy name
            raise UserInputError(f"{name}: an .npz archive, not a .npy array; save one array with numpy.save")
        if values.size == 0:
            raise UserInputError(f"{name}: the array is empty {values.shape}")
        if values.ndim not in (1, 2) or not np.issubdtype(values.dtype, np.number):
            raise UserInputError(f"{name}: .npy must hold a numeric 1-D or 2-D (rows, columns) array, got {values.dtype} {values.shape}")
        values = values.reshape(len(values), -1).astype(np.float64)
        header = None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserInputError(f"{name}: not UTF-8 text") from None
        values, header = _parse_text(name, text, suffix)
    names = header or [f"col{i}" for i in range(values.shape[1])]
    keep = [i for i, n in enumerate(names) if "time" not in n.lower()]
    if not keep:
        raise UserInputError(f"{name}: every column is a time column, no measurement left")
    values, names = values[:, keep], [names[i] for i in keep]
    with np.errstate(over="ignore"):
        bad = np.argwhere(~np.isfinite(values.astype(np.float32)))  # training runs in float32: 1e39 is inf there
    if len(bad):
        r, c = bad[0]
        raise UserInputError(f"{name}: NaN, Inf or a value beyond float32's +-3.4e38 at data row {r + 1}, "
                             f"column {names[c]!r}")
    return values, names
