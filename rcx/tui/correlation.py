"""The Results screen's Correlation view, without Textual: column choices, display rows, series.

The numbers always come from :func:`rcx.analysis.corr.corr_report` (the function behind
``rcx analyze corr``) and are formatted with the command's own ``fmt_r``/``fmt_p``, so the view
and the command agree digit for digit.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from rcx.analysis.common import AnalysisError, excluded_note, fmt_p, fmt_r
from rcx.analysis.corr import CorrReport, corr_report
from rcx.core.results import ARCH_COLUMNS, ResultsTable
from rcx.tui.state import MAX_POINTS, decimate

MAX_SERIES = 8
"""More ``by`` groups than this are drawn as one series (as ``rcx analyze corr --plot`` does)."""

HEADERS = ("group", "pair", "n", "pearson", "p", "spearman", "p ", "kendall", "p  ", "note")
"""The view's table columns (the p-value labels differ only so that the column keys are unique)."""


@dataclass(frozen=True)
class CorrRequest:
    """What the view asks for: columns ``x`` and ``y``, an optional ``by`` grouping column."""

    x: str
    y: str
    by: str | None = None


def numeric_columns(table: ResultsTable) -> list[str]:
    """Columns worth correlating: every metric with a declared direction, then the numeric
    architecture summary (params, flops, features, ratio)."""
    cols = list(table.metric_columns())
    cols += [c for c in ARCH_COLUMNS if c in table.columns and c != "out_shape" and c not in cols]
    return cols


def group_columns(table: ResultsTable) -> list[str]:
    """Columns to group by (``--by``): the space's parameters and the architecture summary."""
    return [c for c in table.columns if "." not in c and c not in ("arch", "out_shape")]


def default_request(table: ResultsTable, chart_metric: str | None) -> CorrRequest | None:
    """x: the charts' metric (else the first evaluator's headline); y: another evaluator's
    ``val_acc`` if there is one, else another evaluator's headline metric, else any other
    numeric column. None when the table has nothing to correlate."""
    x = chart_metric if chart_metric in table.columns else table.default_sort()
    if x is None:
        return None
    x_inst = x.rpartition(".")[0]
    others = [i for i in table.evaluators if i != x_inst]
    candidates = [f"{i}.val_acc" for i in others]
    candidates += [f"{i}.{m}" for i in others for m in table.headline.get(i, ())]
    candidates += numeric_columns(table)
    y = next((c for c in candidates if c in table.columns and c != x), None)
    return CorrRequest(x, y) if y else None


def compute(table: ResultsTable, request: CorrRequest) -> CorrReport:
    """The report ``rcx analyze corr --x X --y Y [--by BY]`` prints for ``table``.

    Raises :class:`~rcx.analysis.common.AnalysisError` for an unusable request."""
    return corr_report(table, request.x, request.y, request.by)


def short(column: str) -> str:
    return column.rpartition(".")[2] if "." in column else column


def display_rows(report: CorrReport) -> list[tuple[str, ...]]:
    """One row per (group, pair) in the command's order: x~y for every group, then x and y
    against each baseline (bins are not requested by the view)."""
    main: list[tuple[str, ...]] = []
    base: list[tuple[str, ...]] = []
    names = {report.x: "x", report.y: "y"}
    for g in report.groups:
        for p in g.pairs:
            c = p.corr
            pair = f"{names.get(p.x, p.x)}~{names.get(p.y, short(p.y))}"
            row = (g.label, pair, f"{c.n:,}", fmt_r(c.pearson), fmt_p(c.pearson_p), fmt_r(c.spearman),
                   fmt_p(c.spearman_p), fmt_r(c.kendall), fmt_p(c.kendall_p), c.note)
            (main if (p.x, p.y) == (report.x, report.y) else base).append(row)
    return main + base


def summary(report: CorrReport) -> str:
    """``x = ...  y = ...  by = ...`` and how many architectures were usable."""
    text = f"x = {report.x}   y = {report.y}   by = {report.by or '(none)'}"
    text += f"\n{report.n_usable:,} of {report.n_rows:,} architectures usable"
    if report.excluded:
        text += f"; {excluded_note(report.excluded)}"
    return text


ELLIPSIS = " …"
"""What ends a line that :func:`fit_lines` had to cut."""


def fit_lines(text: str, width: int, height: int) -> str:
    """``text`` wrapped at word boundaries into lines of at most ``width`` characters, at most
    ``height`` of them; when it needs more, the last one kept ends after a whole word with
    :data:`ELLIPSIS`, so a cut never reads as the whole (``...missing 671,`` was cut mid-list)."""
    if width <= 0 or height <= 0:
        return ""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(paragraph, width, break_on_hyphens=False) or [""]
    if len(lines) <= height:
        return "\n".join(lines)
    kept = lines[:height]
    last = kept[-1].rstrip()
    while last and len(last) + len(ELLIPSIS) > width:
        cut = last.rfind(" ")
        last = last[:cut].rstrip() if cut > 0 else last[: max(0, width - len(ELLIPSIS))]
    kept[-1] = last + ELLIPSIS if last else ELLIPSIS.strip()
    return "\n".join(kept)


def scatter_series(report: CorrReport, limit: int = MAX_POINTS) -> list[tuple[str, list[float], list[float]]]:
    """``(label, xs, ys)``: y against x, one series per ``by`` value (at most
    :data:`MAX_SERIES`, else one), decimated to ``limit`` points in all."""
    groups = [g for g in report.groups if g.bin_range is None and g.label != "all"] if report.by else []
    if not groups or len(groups) > MAX_SERIES:
        groups = report.groups[:1]
    total = sum(len(g.x) for g in groups) or 1
    out = []
    for g in groups:
        if not len(g.x):
            continue
        share = max(1, limit * len(g.x) // total)
        pts = decimate(list(zip(g.x.tolist(), g.y.tolist())), share)
        out.append((g.label if report.by else "", [p[0] for p in pts], [p[1] for p in pts]))
    return out


def describe_error(exc: Exception) -> str:
    """An analysis error as one line for the view."""
    return f"cannot correlate: {exc}" if isinstance(exc, AnalysisError) else f"{type(exc).__name__}: {exc}"
