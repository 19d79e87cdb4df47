"""What every analysis shares: a run's flat table, CSV values joined by architecture id,
numeric columns with the reason each row is unusable, and output as table, CSV or JSON.

Imports of scipy, plotext and the store stay inside functions so that ``rcx --help`` and the
import-hygiene test stay fast and free of the TUI libraries.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rcx.numfmt import format_number

if TYPE_CHECKING:
    import numpy as np

    from rcx.core.results import ResultsTable


class AnalysisError(Exception):
    """Bad input to an analysis (unknown column, unreadable CSV, impossible request): exit 2."""


# -- loading ------------------------------------------------------------------------------------
def load_table(db: Path, run_id: int | None = None, csv_paths: Sequence[Path] = (),
               join_paths: Sequence[Path] = ()) -> tuple[ResultsTable, int]:
    """The flat results table of run ``run_id`` (the latest when None) of ``db`` with every CSV
    in ``csv_paths`` and the latest run of every results file in ``join_paths`` joined by
    architecture id; returns ``(table, run id)``."""
    table, run_id = _read_run(db, run_id)
    for path in join_paths:
        table = join_results(table, path)
    for path in csv_paths:
        table, _ = join_csv(table, path)
    return table, run_id


def _read_run(db: Path, run_id: int | None) -> tuple[ResultsTable, int]:
    from rcx.core.results import results_table
    from rcx.core.store import Store, StoreError
    from rcx.plugins import get_registry

    try:
        store = Store.open_readonly(db)
        try:
            run = store.run(run_id)
            return results_table(store, run.id, get_registry()), run.id
        finally:
            store.close()
    except StoreError as exc:
        raise AnalysisError(str(exc)) from None


def join_results(table: ResultsTable, path: Path) -> ResultsTable:
    """A copy of ``table`` with the evaluator columns (``<instance>.<name>``) of the latest run
    in the results file ``path`` joined by architecture id, with their declared directions.

    For studies split into several plans over the same architectures (one results file per
    evaluator group). An instance present in both files is an error, as are files with no
    architecture in common; architectures only in ``table`` get None (status missing)."""
    other, _ = _read_run(path, None)
    clash = [inst for inst in other.evaluators if inst in table.evaluators]
    if clash:
        raise AnalysisError(f"{path}: evaluator {clash[0]!r} is also in the first results file; join files whose "
                            f"evaluator instances differ (or analyse them one at a time)")
    columns = [c for c in other.columns if c.partition(".")[0] in other.evaluators and "." in c]
    by_arch = {r["arch"]: r for r in other.rows}
    archs = {r["arch"] for r in table.rows}
    if by_arch and not archs & set(by_arch):
        raise AnalysisError(f"{path}: none of its {len(by_arch)} architecture ids occurs in the first results file "
                            f"(e.g. {min(by_arch)!r}; the first has ids like {min(archs, default='none')!r})")
    rows = [{**r, **{c: by_arch.get(r["arch"], {}).get(c) for c in columns}} for r in table.rows]
    return replace(table, columns=[*table.columns, *columns], rows=rows,
                   higher_is_better={**table.higher_is_better, **other.higher_is_better},
                   evaluators=[*table.evaluators, *other.evaluators], headline={**table.headline, **other.headline})


def read_value_csv(path: Path) -> dict[str, dict[str, float | None]]:
    """A CSV with a header ``arch,<name>[,<name>...]`` as ``{name: {arch id: value}}``.

    Empty cells are missing values (None); any other cell must parse as a float.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise AnalysisError(f"{path}: empty CSV (expected a header such as arch,accuracy)")
            header = [h.strip() for h in header]
            if "arch" not in header or len(header) < 2:
                raise AnalysisError(f"{path}: the header must name an 'arch' column and at least one value column "
                                    f"(e.g. arch,accuracy), not {','.join(header)!r}")
            value_cols = [h for h in header if h != "arch"]
            if len(set(value_cols)) != len(value_cols) or "" in value_cols:
                raise AnalysisError(f"{path}: header columns must be named and distinct")
            out: dict[str, dict[str, float | None]] = {c: {} for c in value_cols}
            arch_at = header.index("arch")
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                line = reader.line_num
                if len(cells) != len(header):
                    raise AnalysisError(f"{path}:{line}: {len(cells)} cells, the header has {len(header)}")
                arch = cells[arch_at].strip()
                if arch in out[value_cols[0]]:
                    raise AnalysisError(f"{path}:{line}: architecture {arch!r} appears twice")
                for name, cell in zip(header, cells):
                    if name == "arch":
                        continue
                    text = cell.strip()
                    try:
                        out[name][arch] = float(text) if text else None
                    except ValueError:
                        raise AnalysisError(f"{path}:{line}: {name} value {text!r} is not a number") from None
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise AnalysisError(f"{path}: not a readable CSV file ({exc})") from None
    return out


def join_csv(table: ResultsTable, path: Path) -> tuple[ResultsTable, list[str]]:
    """A copy of ``table`` with the CSV's value columns added under their header names;
    returns ``(table, new column names)``. Architectures absent from the CSV get None."""
    values = read_value_csv(path)
    clash = [c for c in values if c in table.columns]
    if clash:
        raise AnalysisError(f"{path}: column {clash[0]!r} already exists in the results; rename it in the CSV header")
    archs = {r["arch"] for r in table.rows}
    csv_archs = set(next(iter(values.values())))
    if csv_archs and not csv_archs & archs:
        raise AnalysisError(f"{path}: none of its {len(csv_archs)} architecture ids occurs in the run "
                            f"(e.g. {min(csv_archs)!r}; the run has ids like {min(archs, default='none')!r})")
    rows = [{**r, **{c: v.get(r["arch"]) for c, v in values.items()}} for r in table.rows]
    return replace(table, columns=[*table.columns, *values], rows=rows), list(values)


def split_columns(text: str) -> list[str]:
    """``"a.x,rankavg(b.y,flops),c"`` -> ``["a.x", "rankavg(b.y,flops)", "c"]``: commas inside
    parentheses belong to a rank average."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [p.strip() for p in out if p.strip()]


def resolve(table: ResultsTable, name: str) -> str:
    """A column by full name or unique metric name, or a rank average of such columns
    (``a,b,c`` or ``rankavg(a,b,c)``, added to the table: :mod:`rcx.core.scores`); unknown
    names raise :class:`AnalysisError`."""
    try:
        return table.resolve(name)
    except KeyError as exc:
        raise AnalysisError(str(exc.args[0])) from None


def _is_number(v: Any) -> bool:
    import numpy as np

    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of two equal-length 1-D arrays (scipy; nan when undefined)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def status_column(table: ResultsTable, column: str) -> str | None:
    """``<instance>.status`` for an evaluator's metric column, None for other columns."""
    inst, dot, _ = column.rpartition(".")
    status = f"{inst}.status"
    return status if dot and status != column and status in table.columns else None


@dataclass(frozen=True)
class ColumnValues:
    """One numeric column over the table's rows: ``values`` (n_rows,) float64, NaN where the row
    is unusable, and ``reasons[i]`` saying why (None where usable)."""

    name: str
    values: np.ndarray
    reasons: list[str | None]


def column_values(table: ResultsTable, name: str, require_done: bool = True) -> ColumnValues:
    """Resolve ``name`` and read it as numbers. A row is unusable when its value is missing or
    not finite, or (``require_done``, evaluator columns only) its evaluation status is not done."""
    import numpy as np

    col = resolve(table, name)
    status = status_column(table, col) if require_done else None
    values = np.full(len(table.rows), np.nan)
    reasons: list[str | None] = []
    for i, row in enumerate(table.rows):
        v = row.get(col)
        if v is not None and not _is_number(v):
            raise AnalysisError(f"column {col!r} is not numeric (e.g. {v!r})")
        state = row.get(status) if status else "done"
        if state != "done":
            reasons.append(f"{status} {state or 'missing'}")
        elif v is None:
            reasons.append(f"{col} missing")
        elif not math.isfinite(v):
            reasons.append(f"{col} not finite")
        else:
            values[i] = float(v)
            reasons.append(None)
    return ColumnValues(col, values, reasons)


def usable_rows(columns: Sequence[ColumnValues]) -> tuple[np.ndarray, dict[str, int]]:
    """Rows usable in every column: a boolean mask (n_rows,) and, for the others, a count per
    first reason (``{"cvu.status degenerate": 4, ...}``)."""
    import numpy as np

    n = len(columns[0].reasons)
    mask = np.ones(n, dtype=bool)
    excluded: Counter[str] = Counter()
    for i in range(n):
        reason = next((c.reasons[i] for c in columns if c.reasons[i] is not None), None)
        if reason is not None:
            mask[i] = False
            excluded[reason] += 1
    return mask, dict(excluded)


# -- arguments and output -----------------------------------------------------------------------
def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """``DB``, ``--run``, ``--csv`` and ``--format``, shared by every analysis."""
    p.add_argument("db", type=Path, help="results file")
    p.add_argument("--run", type=int, help="run id (default: the latest)")
    p.add_argument("--csv", type=Path, action="append", default=[], metavar="FILE",
                   help="join a CSV 'arch,<name>,...' by architecture id; its columns go by their header names "
                        "(repeatable)")
    p.add_argument("--join", type=Path, action="append", default=[], metavar="DB",
                   help="join the evaluator columns of another results file's latest run by architecture id, e.g. a "
                        "study split into one plan per evaluator group (repeatable)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")


def parse_int_list(text: str, what: str, minimum: int = 1) -> list[int]:
    """``"10,25,100"`` -> ``[10, 25, 100]``; anything else raises :class:`AnalysisError`."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise AnalysisError(f"{what}: expected comma-separated integers, not {text!r}") from None
    if not values or any(v < minimum for v in values):
        raise AnalysisError(f"{what}: expected integers >= {minimum}, not {text!r}")
    return values


def plain(v: Any) -> Any:
    """A JSON-safe value: numpy scalars to Python, NaN and infinities to None."""
    import numpy as np

    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def fmt_r(v: float | None, sign: bool = False) -> str:
    """A coefficient or a mean for the terminal (:func:`rcx.numfmt.format_number`: 4 significant
    digits; ``sign``: ``+`` before positive values); NaN is ``n/a``."""
    return "n/a" if v is None or not math.isfinite(v) else format_number(float(v), sign=sign)


def fmt_p(v: float | None) -> str:
    """A p-value for the terminal (the same rule at two significant digits); NaN is ``n/a``."""
    return "n/a" if v is None or not math.isfinite(v) else format_number(float(v), digits=2)


def excluded_note(excluded: dict[str, int]) -> str:
    """``"excluded 3: cvu.status degenerate 2, trained.val_acc missing 1"`` or ``""``."""
    if not excluded:
        return ""
    parts = ", ".join(f"{k} {n}" for k, n in sorted(excluded.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"excluded {sum(excluded.values())}: {parts}"


def show_table(columns: Sequence[str], rows: Sequence[dict[str, Any]], title: str | None = None, note: str = "",
               stream: IO[str] | None = None) -> None:
    """A terminal table of preformatted ``rows``, leaving out columns empty in every row, with
    ``note`` on the line below."""
    from rcx.termtable import print_table

    stream = stream or sys.stdout
    shown = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)]
    print_table(shown, rows, title, stream=stream)
    if note:
        print(note, file=stream)


def emit(fmt: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], *, title: str, meta: dict[str, Any],
         note: str = "", table_rows: Sequence[dict[str, Any]] | None = None, stream: IO[str] | None = None) -> None:
    """Write an analysis result: JSON ``{"meta", "rows"}``; CSV of ``rows`` (NaN as ``nan``,
    ``note`` on stderr); or a terminal table of ``table_rows`` (preformatted; default ``rows``)."""
    stream = stream or sys.stdout
    if fmt == "json":
        doc = {"meta": {k: plain(v) for k, v in meta.items()},
               "rows": [{k: plain(r.get(k)) for k in columns} for r in rows]}
        json.dump(doc, stream, indent=1)
        stream.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(stream, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        if note:
            print(note, file=sys.stderr)
    else:
        show_table(columns, rows if table_rows is None else table_rows, title, note, stream)
