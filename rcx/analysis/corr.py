"""``rcx analyze corr``: how well a proxy's ranking agrees with a truth (seed 000, Tables II, IV, V).

Pearson and Spearman (with p-values) and Kendall's tau between two columns over the
architectures that have both (finite values, evaluation status done), overall, per value of a
``--by`` column (Table II: per depth) and within evenly spaced ``--bins`` of a column (Table V:
final feature size). Each of x and y is also correlated with the trivial baselines (params,
FLOPs) over the same architectures. The numbers come from :func:`corr_report`, so the TUI can
show exactly what the command prints.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from rcx.analysis.common import (
    AnalysisError,
    ColumnValues,
    add_common_arguments,
    column_values,
    emit,
    excluded_note,
    fmt_p,
    fmt_r,
    load_table,
    resolve,
    show_table,
    usable_rows,
)
from rcx.analysis.truth import resolve_names
from rcx.numfmt import DIGITS, format_ticks, set_round_ticks

if TYPE_CHECKING:
    import numpy as np

DEFAULT_BASELINES = ("params", "flops")
MIN_N = 3
"""Fewer architectures than this give NaN coefficients (with ``n`` reported)."""


@dataclass(frozen=True)
class Correlation:
    """Coefficients between two samples of ``n`` values; NaN with a ``note`` when undefined
    (n < 3 or a constant sample). p-values are two-sided (scipy.stats)."""

    n: int
    pearson: float = math.nan
    pearson_p: float = math.nan
    spearman: float = math.nan
    spearman_p: float = math.nan
    kendall: float = math.nan
    kendall_p: float = math.nan
    note: str = ""


def correlate(x: np.ndarray, y: np.ndarray) -> Correlation:
    """Pearson, Spearman and Kendall (tau-b) of ``x`` and ``y`` (both (n,) finite floats)."""
    import numpy as np
    from scipy import stats

    n = len(x)
    if n < MIN_N:
        return Correlation(n, note=f"n < {MIN_N}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(n, note="constant " + ("x" if np.ptp(x) == 0 else "y"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on near-constant input; the result is still defined
        pr = stats.pearsonr(x, y)
        sr = stats.spearmanr(x, y)
        kt = stats.kendalltau(x, y)
    return Correlation(n, float(pr.statistic), float(pr.pvalue), float(sr.statistic), float(sr.pvalue),
                       float(kt.statistic), float(kt.pvalue))


@dataclass(frozen=True)
class PairResult:
    """One correlated pair of columns within one group."""

    x: str
    y: str
    corr: Correlation


@dataclass
class CorrGroup:
    """A set of architectures correlated together: all of them, one ``--by`` value, or one bin.

    ``arch``, ``x``, ``y`` are (n,) (ids and values of the main pair, for a scatter);
    ``pairs[0]`` is x ~ y, then x and y against each baseline.
    """

    label: str
    arch: list[str]
    x: np.ndarray
    y: np.ndarray
    pairs: list[PairResult]
    by_value: Any = None
    bin_range: tuple[float, float] | None = None


@dataclass
class CorrReport:
    """Everything ``rcx analyze corr`` shows: resolved column names, how many architectures
    were usable (and why the others were not), and the groups in display order."""

    x: str
    y: str
    by: str | None
    bins: tuple[str, int] | None
    baselines: list[str]
    n_rows: int
    n_usable: int
    excluded: dict[str, int]
    groups: list[CorrGroup] = field(default_factory=list)


def bin_index(values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced bins over [min, max] of ``values`` (n,): right-closed ``(e_i, e_i+1]``
    with the minimum in the first bin, as pandas.cut does. Returns (bin of each value (n,),
    edges (n_bins + 1,))."""
    import numpy as np

    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, n_bins - 1)
    return idx, edges


def _group(label: str, sel: np.ndarray, arch: np.ndarray, x: ColumnValues, y: ColumnValues,
           baselines: Sequence[ColumnValues], **where: Any) -> CorrGroup:
    import numpy as np

    xs, ys = x.values[sel], y.values[sel]
    pairs = [PairResult(x.name, y.name, correlate(xs, ys))]
    for b in baselines:
        bv = b.values[sel]
        ok = np.isfinite(bv)
        pairs.append(PairResult(x.name, b.name, correlate(xs[ok], bv[ok])))
        pairs.append(PairResult(y.name, b.name, correlate(ys[ok], bv[ok])))
    return CorrGroup(label, list(arch[sel]), xs, ys, pairs, **where)


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v))


def corr_report(table, x: str, y: str, by: str | None = None, bins: tuple[str, int] | None = None,
                baselines: Sequence[str] = DEFAULT_BASELINES) -> CorrReport:
    """Correlate columns ``x`` and ``y`` of a :class:`~rcx.core.results.ResultsTable`: over all
    usable architectures, then per ``by`` value, then in ``bins = (column, n)`` (within each
    ``by`` value when both are given). Names are full column names or unique metric names."""
    import numpy as np

    xc, yc = column_values(table, x), column_values(table, y)
    base = [c for b in baselines if (c := column_values(table, b, require_done=False)).name not in (xc.name, yc.name)]
    needed = [xc, yc]
    by_col = resolve(table, by) if by else None
    by_vals = [_hashable(r.get(by_col)) for r in table.rows] if by_col else []
    if by_col:
        needed.append(ColumnValues(by_col, np.zeros(len(table.rows)),
                                   [f"{by_col} missing" if v is None else None for v in by_vals]))
    bin_c = None
    if bins:
        bin_c = column_values(table, bins[0], require_done=False)
        needed.append(bin_c)
    mask, excluded = usable_rows(needed)
    arch = np.array([r["arch"] for r in table.rows], dtype=object)
    report = CorrReport(xc.name, yc.name, by_col, (bin_c.name, bins[1]) if bin_c and bins else None,
                        [b.name for b in base], len(table.rows), int(mask.sum()), excluded)

    def add_bins(sel: np.ndarray, prefix: str, by_value: Any = None) -> None:
        if bin_c is None or not sel.any() or bins is None:
            return
        rows = np.flatnonzero(sel)
        idx, edges = bin_index(bin_c.values[rows], bins[1])
        names = format_ticks([float(e) for e in edges], max_digits=DIGITS)  # [10, 30], not [10.0, 30.0]
        for b in range(bins[1]):
            members = rows[idx == b]
            if len(members) == 0:
                continue
            lo, hi = float(edges[b]), float(edges[b + 1])
            label = f"{prefix}{bin_c.name} {'[' if b == 0 else '('}{names[b]}, {names[b + 1]}]"
            in_bin = np.zeros_like(sel)
            in_bin[members] = True
            report.groups.append(_group(label, in_bin, arch, xc, yc, base, by_value=by_value, bin_range=(lo, hi)))

    report.groups.append(_group("all", mask, arch, xc, yc, base))
    if by_col:
        for value in sorted({by_vals[i] for i in np.flatnonzero(mask)}, key=_sort_key):
            sel = mask & np.array([v == value for v in by_vals], dtype=bool)
            report.groups.append(_group(f"{by_col}={value}", sel, arch, xc, yc, base, by_value=value))
            add_bins(sel, f"{by_col}={value} ", value)
    else:
        add_bins(mask, "")
    return report


# -- output -------------------------------------------------------------------------------------
COLUMNS = ("group", "x", "y", "n", "pearson", "pearson_p", "spearman", "spearman_p", "kendall", "kendall_p")


def report_rows(report: CorrReport) -> list[dict[str, Any]]:
    """One flat row per (group, pair), keyed by :data:`COLUMNS` (plus ``note``)."""
    rows = []
    for g in report.groups:
        for p in g.pairs:
            c = p.corr
            rows.append({"group": g.label, "x": p.x, "y": p.y, "n": c.n, "pearson": c.pearson, "pearson_p": c.pearson_p,
                         "spearman": c.spearman, "spearman_p": c.spearman_p, "kendall": c.kendall,
                         "kendall_p": c.kendall_p, "note": c.note})
    return rows


def _table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        t = {**r, **{k: fmt_r(r[k]) for k in ("pearson", "spearman", "kendall")},
             **{k: fmt_p(r[k]) for k in ("pearson_p", "spearman_p", "kendall_p")}}
        out.append(t)
    return out


def scatter(report: CorrReport, stream: IO[str] | None = None, max_series: int = 8) -> None:
    """A terminal scatter of y against x (one series per ``--by`` value when given) with plotext."""
    import plotext as plt  # lazily: the CLI must not import it unless asked to draw

    stream = stream or sys.stdout
    plt.clear_figure()
    series = [g for g in report.groups if g.bin_range is None and g.label != "all"] if report.by else report.groups[:1]
    if len(series) > max_series:
        series = report.groups[:1]
    for g in series:
        if len(g.x):
            plt.scatter(g.x.tolist(), g.y.tolist(), label=g.label if report.by else None)
    plt.xlabel(report.x)
    plt.ylabel(report.y)
    set_round_ticks(plt, [v for g in series for v in g.x.tolist()], [v for g in series for v in g.y.tolist()])
    r = report.groups[0].pairs[0].corr
    plt.title(f"{report.y} vs {report.x}: n={r.n}, pearson {fmt_r(r.pearson)}, spearman {fmt_r(r.spearman)}")
    plt.plotsize(min(plt.terminal_width() or 100, 100), 25)
    text = plt.build()
    stream.write((text if stream.isatty() else plt.uncolorize(text)) + "\n")
    plt.clear_figure()


def _parse_bins(text: str) -> tuple[str, int]:
    col, colon, n = text.rpartition(":")
    if not colon or not col:
        raise AnalysisError(f"--bins: expected COLUMN:N (e.g. features:20), not {text!r}")
    try:
        count = int(n)
    except ValueError:
        count = 0
    if count < 1:
        raise AnalysisError(f"--bins: the number of bins must be an integer >= 1, not {n!r}")
    return col, count


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze corr`` command."""
    from rcx.exits import EXIT_OK, EXIT_USAGE, error

    try:
        bins = _parse_bins(args.bins) if args.bins else None
        baselines = [b.strip() for b in args.baselines.split(",") if b.strip()] if args.baselines != "none" else []
        if (args.y is None) == (args.truth is None):
            raise AnalysisError("say what to correlate x with: --y COLUMN or --truth TABLE:SUBSET (one of the two)")
        table, run_id = load_table(args.db, args.run, args.csv, args.join)
        table, (x, y) = resolve_names(table, [args.x, args.y or args.truth])
        report = corr_report(table, x, y, args.by, bins, baselines)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    rows = report_rows(report)
    meta = {"db": str(args.db), "run": run_id, "x": report.x, "y": report.y, "by": report.by,
            "bins": list(report.bins) if report.bins else None, "baselines": report.baselines,
            "candidates": report.n_rows, "usable": report.n_usable, "excluded": report.excluded}
    title = f"correlation of {report.x} and {report.y}"
    note = (f"run {run_id}: {report.n_usable} of {report.n_rows} architectures usable"
            + (f"; {excluded_note(report.excluded)}" if report.excluded else ""))
    if args.format != "table":
        emit(args.format, [*COLUMNS, "note"], rows, title=title, meta=meta, note=note)
        return EXIT_OK
    main = [r for r in rows if (r["x"], r["y"]) == (report.x, report.y)]
    show_table(["group", *COLUMNS[3:], "note"], _table_rows(main), title, note)
    unbinned = {g.label for g in report.groups if g.bin_range is None}
    base = [r for r in rows if r not in main and r["group"] in unbinned]
    if base:
        show_table([*COLUMNS, "note"], _table_rows(base), "trivial baselines over the same architectures"
                   + (" (per bin: --format csv or json)" if report.bins else ""))
    if args.plot:
        scatter(report)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``corr`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "corr", help="correlate a proxy with a truth (Pearson, Spearman, Kendall)",
        description="Pearson and Spearman (with p-values) and Kendall's tau between two columns over the architectures "
                    "that have both (finite, evaluation status done), with params/FLOPs as trivial baselines.")
    add_common_arguments(p)
    p.add_argument("--x", required=True, help="column, e.g. ridge_rfm.val_acc (or val_acc when unique), a rank average "
                                              "such as synflow.score,jacov.score,flops, or a truth")
    p.add_argument("--y", help="column, e.g. trained.val_acc, a --csv column, or a truth such as nb201:cifar10")
    p.add_argument("--truth", metavar="TABLE:SUBSET", help="y from a truth table joined by architecture id, e.g. "
                                                           "nb201:cifar10 (instead of --y; see `rcx plugins`)")
    p.add_argument("--by", metavar="COLUMN", help="also correlate per value of COLUMN (e.g. depth)")
    p.add_argument("--bins", metavar="COLUMN:N", help="also correlate within N evenly spaced bins of COLUMN "
                                                      "(e.g. features:20), within each --by value when given")
    p.add_argument("--baselines", default=",".join(DEFAULT_BASELINES), metavar="COLS",
                   help="columns each of x and y is also correlated with (default: params,flops; 'none': no baselines)")
    p.add_argument("--plot", action="store_true", help="table format: also draw a terminal scatter of y against x")
    p.set_defaults(func=run)
