"""Pareto fronts: the architectures no other one beats in every objective at once.

An objective is a column and a direction: ``naswot.score`` (a declared metric: its declared
direction), ``flops`` (the architecture summary's costs ``params``, ``flops``, ``features``:
lower is better) or any numeric column with an explicit ``:max``/``:min``. An architecture is
*dominated* when another one is at least as good in every objective and better in one; the
front is every architecture that is not (duplicates of a front point are all on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rcx.analysis.common import AnalysisError, column_values, usable_rows

if TYPE_CHECKING:
    import numpy as np

    from rcx.core.results import ResultsTable

COSTS = ("params", "flops", "features")
"""Architecture-summary columns that are costs (lower is better) as objectives."""

_CHUNK = 1024  # rows compared against all others at once in k > 2 dimensions: (chunk, n, k) booleans


def front_mask(values: np.ndarray) -> np.ndarray:
    """(n,) bool: which rows of ``values`` (n, k), every column higher-is-better and finite,
    no other row dominates. O(n log n) for k = 2, O(n^2 k) in chunks above."""
    import numpy as np

    n, k = values.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if k == 1:
        return values[:, 0] == values[:, 0].max()
    if k == 2:
        return _front_2d(values[:, 0], values[:, 1])
    mask = np.empty(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        v = values[start:start + _CHUNK, None, :]  # (c, 1, k)
        geq = (values[None, :, :] >= v).all(axis=2)  # (c, n): row j at least as good as row i everywhere
        gt = np.greater(values[None, :, :], v).any(axis=2)
        mask[start:start + _CHUNK] = ~(geq & gt).any(axis=1)
    return mask


def _front_2d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2-D front by one sweep in decreasing ``a``: a point is on it when its ``b`` is the
    best among the points with its ``a`` and better than every ``b`` at a strictly greater ``a``."""
    import numpy as np

    order = np.lexsort((-b, -a))
    mask = np.zeros(len(a), dtype=bool)
    best_above = -np.inf  # best b over strictly greater a
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and a[order[j]] == a[order[i]]:
            j += 1
        group = order[i:j]
        top = b[group[0]]  # the group is sorted by decreasing b
        if top > best_above:
            mask[group[b[group] == top]] = True
        best_above = max(best_above, top)
        i = j
    return mask


@dataclass(frozen=True)
class Objective:
    """A column and whether higher is better."""

    column: str
    maximize: bool

    def __str__(self) -> str:
        return f"{self.column} ({'higher' if self.maximize else 'lower'})"


def parse_objectives(spec: str | Sequence[str], table: ResultsTable) -> list[Objective]:
    """``"naswot.score,flops"`` or ``["score:max", "flops:min"]`` as resolved objectives; at
    least two, distinct, each with a known direction, else :class:`AnalysisError`."""
    parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec) if p.strip()]
    if len(parts) < 2:
        raise AnalysisError(f"a Pareto front needs at least two objectives, e.g. naswot.score,flops (got {spec!r})")
    out = []
    for part in parts:
        name, _, direction = part.partition(":")
        if direction not in ("", "max", "min"):
            raise AnalysisError(f"{part}: the direction after ':' is max or min, not {direction!r}")
        try:
            column = table.resolve(name)
        except KeyError as exc:
            raise AnalysisError(str(exc.args[0])) from None
        if direction:
            maximize = direction == "max"
        elif column in COSTS:  # a cost (lower is better), whatever direction it has as a baseline
            maximize = False
        elif column in table.higher_is_better:
            maximize = table.higher_is_better[column]
        else:
            raise AnalysisError(f"{column}: no declared direction; say {name}:max or {name}:min")
        out.append(Objective(column, maximize))
    if len({o.column for o in out}) < len(out):
        raise AnalysisError(f"{spec!r} names a column twice")
    return out


def pareto_front(table: ResultsTable, objectives: Sequence[Objective],
                 rows: Sequence[dict[str, Any]] | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rows of ``rows`` (default: the table's) on the front of ``objectives``, in their
    given order, and the count of rows left out per reason (missing or non-finite value, an
    evaluation that is not done)."""
    from dataclasses import replace

    import numpy as np

    pool = list(table.rows if rows is None else rows)
    sub = replace(table, rows=pool)
    columns = [column_values(sub, o.column) for o in objectives]
    usable, excluded = usable_rows(columns) if pool else (np.zeros(0, dtype=bool), {})
    values = np.stack([c.values[usable] * (1.0 if o.maximize else -1.0) for c, o in zip(columns, objectives)], axis=1)
    on_front = front_mask(values)
    idx = np.flatnonzero(usable)[on_front]
    return [pool[i] for i in idx], excluded
