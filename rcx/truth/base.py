"""What the built-in truth tables share: reading the gzipped CSV files packaged in
``rcx/truth/data``.

The interface itself, :class:`~rcx.api.truth.TruthTable`, is public in :mod:`rcx.api`
(re-exported here for the built-in tables). The framework's side of truth tables (the
declaration check at registration, the per-process cache of loaded values) lives with the
registry: :func:`rcx.plugin_checks.check_truth_declaration`, :func:`rcx.plugins.truth_values`.

This module imports neither torch nor the core: loading a truth table is a file read.
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources

from rcx.api.truth import TruthTable, Values

__all__ = ["TruthTable", "Values", "columns_by_id", "read_packaged_csv"]


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
