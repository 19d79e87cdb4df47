"""Truth tables inside rcx: the declaration check at registration and the per-process cache.

The interface itself, :class:`~rcx.api.truth.TruthTable`, is public in :mod:`rcx.api`
(re-exported here for rcx's own modules).

This module imports neither torch nor the core: loading a truth table is a file read.
"""

from __future__ import annotations

import csv
import gzip
import io
import threading
from importlib import resources

from rcx.api.options import Metric
from rcx.api.truth import TruthTable, Values

__all__ = ["TruthTable", "Values", "check_declaration", "columns_by_id", "read_packaged_csv", "truth_values"]


def check_declaration(cls: type) -> None:
    """Raise ``ValueError`` when a registered truth table's declaration is unusable."""
    if not (isinstance(cls, type) and issubclass(cls, TruthTable)):
        raise ValueError(f"{cls!r} is not a subclass of rcx.api.TruthTable")
    if not isinstance(getattr(cls, "space", None), str) or not cls.space:
        raise ValueError(f"truth table {cls.name!r} declares no 'space'")
    if not cls.subsets or not all(isinstance(m, Metric) for m in cls.subsets):
        raise ValueError(f"truth table {cls.name!r} declares no subsets (a tuple of rcx.api.Metric)")
    names = [m.name for m in cls.subsets]
    if len(set(names)) != len(names) or any(not n or ":" in n or "." in n for n in names):
        raise ValueError(f"truth table {cls.name!r}: subset names must be distinct and contain no ':' or '.' ({names})")
    if ":" in cls.name or "." in cls.name:
        raise ValueError(f"truth table name {cls.name!r} must contain no ':' or '.'")
    if cls.load is TruthTable.load:
        raise ValueError(f"truth table {cls.name!r} does not implement load()")


def read_packaged_csv(file: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a gzipped CSV file shipped in ``rcx/truth/data`` (blank lines skipped)."""
    raw = resources.files("rcx.truth").joinpath("data", file).read_bytes()
    reader = csv.reader(io.StringIO(gzip.decompress(raw).decode("ascii")))
    header = next(reader)
    return header, [row for row in reader if row]


def columns_by_id(file: str, columns: dict[str, str], key: str = "arch") -> Values:
    """``{row[key]: {subset: float(row[column])}}`` of a packaged file, ``columns`` mapping
    subset -> file column."""
    header, rows = read_packaged_csv(file)
    at = {subset: header.index(col) for subset, col in columns.items()}
    k = header.index(key)
    return {row[k]: {subset: float(row[i]) for subset, i in at.items()} for row in rows}


_cache: dict[type, Values] = {}
_lock = threading.Lock()


def truth_values(cls: type[TruthTable]) -> Values:
    """``cls().load()``, read once per process (the TUI's reload thread and the CLI share it)."""
    with _lock:
        if cls not in _cache:
            _cache[cls] = cls().load()
        return _cache[cls]
