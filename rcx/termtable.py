"""Tables for the terminal: numbers formatted for reading, and wide tables fitted to the screen.

On a terminal, a table wider than the screen keeps its most important columns (by the caller's
priority) and names the ones it left out; piped output always gets every column in full.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Sequence
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from rcx.numfmt import format_count, format_number

#: When fitting, a header longer than its values folds at its first dot down to this width.
HEADER_MIN = 10


def _header_width(column: str) -> int:
    """Width a fitted column needs for its header: ``ridge_rfm.val_acc`` folds after the dot."""
    head, dot, tail = column.partition(".")
    return max(len(head) + 1, len(tail), HEADER_MIN) if dot else len(column)


def format_value(v: Any, unit: str | None = None) -> str:
    """A table cell: numbers by the one rule of :func:`rcx.numfmt.format_number` (integers
    whole with thousands separators, floats to 4 significant digits), None as blank, booleans
    as ``true``/``false``, anything else as its text. A metric of ``unit`` ``count`` that may be
    fractional (``epochs``) reads as a count (:func:`rcx.numfmt.format_count`: ``1``, ``2.5``)."""
    if v is None:
        return ""
    if isinstance(v, numbers.Real):
        return format_count(v) if unit == "count" else format_number(v)
    return str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fit_columns(columns: Sequence[str], widths: dict[str, int], width: int, priority: Sequence[str]) -> list[str]:
    """The columns to show in ``width`` characters, in their original order: taken by
    ``priority`` (then the rest in order) while they fit. ``widths`` are content widths."""
    order = [c for c in priority if c in columns] + [c for c in columns if c not in priority]
    used, kept = 1, set[str]()
    for col in order:
        need = widths[col] + 3  # padding on both sides and one border
        if used + need > width and kept:
            continue
        used += need
        kept.add(col)
    return [c for c in columns if c in kept]


def print_table(
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    title: str | None = None,
    stream: IO[str] | None = None,
    priority: Sequence[str] | None = None,
    units: dict[str, str] | None = None,
) -> list[str]:
    """Print ``rows`` (dicts) as a table; return the columns left out to fit the terminal.

    Numbers and the columns in ``priority`` keep their values whole (long headers fold);
    other text wraps. With ``priority`` on a terminal, columns that do not fit are dropped.
    ``units`` (column -> declared unit) lets a count column read as one (:func:`format_value`).
    """
    stream = stream or sys.stdout
    tty = stream.isatty()
    console = Console(file=stream, width=None if tty else 100_000, highlight=False)
    units = units or {}
    cells = {c: [format_value(r.get(c), units.get(c)) for r in rows] for c in columns}
    numeric = {c: any(_is_number(r.get(c)) for r in rows) for c in columns}
    whole = {c for c in columns if numeric[c] or (priority is not None and c in priority)}
    value_width = {c: max((len(v) for v in cells[c]), default=0) for c in columns}
    shown, fixed = list(columns), {}
    if tty and priority is not None:
        fixed = {c: max(value_width[c], _header_width(c)) if c in whole else min(len(c), 24) for c in columns}
        shown = fit_columns(columns, fixed, console.width, priority)
    table = Table(title=title, header_style="bold")
    for c in shown:
        header = c.replace(".", ".\n", 1) if c in fixed and len(c) > fixed[c] else c
        table.add_column(header, justify="right" if numeric[c] else "left", overflow="fold",
                         width=fixed.get(c), min_width=None if c in fixed else value_width[c] if c in whole else None)
    for i in range(len(rows)):
        table.add_row(*(cells[c][i] for c in shown))
    console.print(table)
    dropped = [c for c in columns if c not in shown]
    if dropped:
        print(f"({len(dropped)} more columns not shown: {', '.join(dropped)}; widen the terminal or use "
              "--all-columns / --format csv)", file=stream)
    return dropped
