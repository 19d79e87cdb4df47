"""Scores: which columns rank architectures, in which direction, and rank averages of several.

One module declares what every consumer ranks by: a stage's ``by``, ``rcx results --sort``,
the TUI's sort, ``rcx analyze corr/select/proxies``.

Roles. An evaluator's metric declares its role (``rcx.api.Metric.role``): a *score* to rank
architectures by, or a *description* (a time, a throughput, a size, a count, a spread). The
architecture's own columns are *baselines*: ``params``, ``flops`` and ``features`` rank with
**higher is better** (a bigger network tends to train to a higher accuracy: the trivial
baselines of ZiCo and Abdelfattah et al.), so ``rcx analyze select --score params`` needs no
direction flag. As a *cost* (an Optuna objective, a Pareto front) the same columns count as
lower-is-better; that is the search's declaration (``rcx.core.search.COSTS``), not this one.

Rank averages. A score may be the rank average of several columns, written as a list in a plan
(``by = ["synflow.score", "jacov.score", "flops"]``) or comma-separated on the command line
(``--sort synflow.score,jacov.score,flops``); its column is named
``rankavg(synflow.score,jacov.score,flops)``. For each column, the rows usable in *every* column
are ranked 1 (best, by the column's declared direction) to m; tied values share the mean of the
ranks they span; the score is the mean of a row's ranks, so **lower is better** (1.0: best in
every column). A row is not usable, and gets no rank average (None: sorted last, never selected
by a stage, excluded from analyses), when any column is missing or not finite, or when the
evaluation behind an evaluator column has a status other than ``done``. Ranks are computed
among the usable rows only, so every score is on the same 1..m scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rcx.api.options import DESCRIPTION, SCORE, Metric

BASELINE = "baseline"
"""The role of the architecture's own size columns in a results table."""

ARCH_BASELINES: dict[str, Metric] = {
    "params": Metric("params", "count", True, "parameters of the network (trivial baseline: more ranks higher)"),
    "flops": Metric("flops", "MAC/img", True, "multiply-accumulates per image (trivial baseline: more ranks higher)"),
    "features": Metric("features", "count", True, "flattened feature size (baseline: more ranks higher)"),
}
"""The architecture summary's columns that rank as baselines, with their documented direction."""

RANK_AVERAGE = "rankavg"
"""The prefix of a rank-average column's name: ``rankavg(a,b,c)``."""

__all__ = ["ARCH_BASELINES", "BASELINE", "DESCRIPTION", "RANK_AVERAGE", "SCORE", "parse_score", "rank_average",
           "rank_average_rows", "score_name", "usable"]


def parse_score(spec: str | Sequence[str]) -> tuple[str, ...]:
    """The columns of a score: ``"a"`` -> ``("a",)``; ``"a,b"``, ``"rankavg(a,b)"`` or
    ``["a", "b"]`` -> ``("a", "b")``. Raises ``ValueError`` on an empty or repeated column."""
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith(f"{RANK_AVERAGE}(") and text.endswith(")"):
            text = text[len(RANK_AVERAGE) + 1:-1]
        parts = [p.strip() for p in text.split(",")]
    else:
        parts = [str(p).strip() for p in spec]
    if not parts or any(not p for p in parts):
        raise ValueError(f"a score names one column or several, comma-separated, not {spec!r}")
    if len(set(parts)) != len(parts):
        raise ValueError(f"a rank average names each column once, not {spec!r}")
    return tuple(parts)


def score_name(columns: Sequence[str]) -> str:
    """The column name of a score: the column itself, or ``rankavg(a,b,c)``."""
    return columns[0] if len(columns) == 1 else f"{RANK_AVERAGE}({','.join(columns)})"


def usable(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ranks(values: Sequence[float], higher_is_better: bool) -> list[float]:
    """1-based ranks of ``values`` (1: best by the direction), ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: -values[i] if higher_is_better else values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def rank_average(columns: Sequence[Sequence[Any]], higher_is_better: Sequence[bool]) -> list[float | None]:
    """Per row, the mean of its ranks in ``columns`` (each a sequence over the same n rows,
    oriented by ``higher_is_better``); None for rows with a value that is not a finite number.
    Lower is better (see the module docstring)."""
    if len(columns) != len(higher_is_better) or not columns:
        raise ValueError("rank_average needs one direction per column and at least one column")
    n = len(columns[0])
    ok = [i for i in range(n) if all(usable(col[i]) for col in columns)]
    out: list[float | None] = [None] * n
    if not ok:
        return out
    total = [0.0] * len(ok)
    for col, higher in zip(columns, higher_is_better):
        for j, r in enumerate(_ranks([float(col[i]) for i in ok], higher)):
            total[j] += r
    for j, i in enumerate(ok):
        out[i] = total[j] / len(columns)
    return out


def rank_average_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                      higher_is_better: Sequence[bool]) -> list[float | None]:
    """:func:`rank_average` of result rows (dicts keyed by column): a column ``inst.metric``
    counts only where ``inst.status`` is ``done`` (when the row has that status column)."""
    values = []
    for col in columns:
        inst, dot, _ = col.rpartition(".")
        status = f"{inst}.status" if dot else None
        values.append([r.get(col) if status is None or status not in r or r[status] == "done" else None
                       for r in rows])
    return rank_average(values, higher_is_better)
