"""What the TUI shows, computed without Textual: run progress, filters and chart series.

Everything here is plain Python over runner events and :class:`~rcx.core.results.ResultsTable`
rows, so it is tested without a terminal and the widgets stay thin.
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from rcx.core import events as ev
from rcx.core.results import ResultsTable
from rcx.core.store import FINAL_STATES

STATUSES = ("done", "screened", "invalid", "failed")
"""Statuses every run shows a count for; evaluator-specific ones are added as they appear."""


@dataclass
class Progress:
    """done/total, rate, ETA and counts per status of one run, fed by events or store snapshots."""

    run_id: int = 0
    total: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    device: str = ""
    state: str = "idle"  # idle | loading | running | paused | cancelling | finished | cancelled | failed | following
    current: str = ""
    samples: deque = field(default_factory=lambda: deque(maxlen=120))  # (time, done) for the rate

    def apply(self, event: ev.Event, now: float | None = None) -> None:
        """Fold one runner event in."""
        now = time.monotonic() if now is None else now
        if isinstance(event, ev.RunStarted):
            self.run_id, self.total, self.done, self.device = event.run_id, event.total, event.done, event.device
            self.state = "running"
            self.samples.clear()
            self.samples.append((now, self.done))
        elif isinstance(event, ev.EvalStarted):
            self.current = f"{event.arch} / {event.evaluator}"
        elif isinstance(event, ev.EvalFinished):
            self.done += 1
            self.counts[event.status] = self.counts.get(event.status, 0) + 1
            self.samples.append((now, self.done))
        elif isinstance(event, ev.RunFinished):
            self.counts = dict(event.counts)
            self.done = sum(n for s, n in event.counts.items() if s in FINAL_STATES)
            self.state = "cancelled" if event.cancelled else "finished"
            self.current = ""

    def snapshot(self, run_id: int, total: int, counts: dict[str, int], run_state: str, now: float | None = None) -> None:
        """Take the numbers from the store (following a run that another process writes)."""
        now = time.monotonic() if now is None else now
        self.run_id, self.total, self.counts = run_id, total, dict(counts)
        done = sum(n for s, n in counts.items() if s in FINAL_STATES)
        if done != self.done or not self.samples:
            self.samples.append((now, done))
        self.done = done
        self.state = "following" if run_state == "running" else run_state

    @property
    def rate(self) -> float:
        """Evaluations per second over the recent samples (0 when unknown)."""
        if len(self.samples) < 2:
            return 0.0
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def eta(self) -> float:
        """Seconds left at the current rate (inf when unknown)."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else math.inf

    def status_counts(self) -> dict[str, int]:
        """The four common statuses (0 when absent), then any other final status seen."""
        out = {s: self.counts.get(s, 0) for s in STATUSES}
        out.update({s: n for s, n in self.counts.items() if s not in out and s != "running"})
        return out


def fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def fmt_value(v: Any) -> str:
    """A table cell: floats to 4 significant digits, large ints with separators, None as blank."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 10_000 else f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# -- filtering ----------------------------------------------------------------------------------
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_TERM_RE = re.compile(r"^([A-Za-z_][\w.]*)(>=|<=|!=|>|<|=)(.+)$")


class FilterError(ValueError):
    """A filter query that cannot be used; the message says which term and why."""


@dataclass(frozen=True)
class RowFilter:
    """``k7 s1 val_acc>=0.3 throughput<500``: words must occur in the architecture id, terms
    ``COLUMN OP VALUE`` compare a column (full name or a unique metric name) with a number or text."""

    words: tuple[str, ...] = ()
    terms: tuple[tuple[str, str, Any], ...] = ()

    @classmethod
    def parse(cls, query: str, table: ResultsTable) -> "RowFilter":
        words, terms = [], []
        for token in query.split():
            m = _TERM_RE.match(token)
            if not m:
                words.append(token.lower())
                continue
            name, op, raw = m.groups()
            try:
                column = table.resolve(name)
            except KeyError as exc:
                raise FilterError(f"{token}: {exc.args[0]}") from None
            try:
                value: Any = float(raw)
            except ValueError:
                value = raw
            terms.append((column, op, value))
        return cls(tuple(words), tuple(terms))

    def __call__(self, row: dict[str, Any]) -> bool:
        arch = str(row.get("arch", "")).lower()
        if any(w not in arch for w in self.words):
            return False
        for column, op, value in self.terms:
            v = row.get(column)
            if v is None:
                return False
            if isinstance(value, float) and not isinstance(v, (int, float)):
                return False
            if isinstance(value, str):
                v = str(v)
            if not _OPS[op](v, value):
                return False
        return True


def changed_rows(previous: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> set[str]:
    """Architecture ids whose row is new or differs from ``previous`` (keyed by ``arch``)."""
    return {r["arch"] for r in rows if previous.get(r["arch"]) != r}


# -- charts -------------------------------------------------------------------------------------
MAX_POINTS = 2000
"""Points per chart after decimation: plotext rebuilds the whole plot on every repaint."""


def numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def decimate(items: list, limit: int = MAX_POINTS) -> list:
    """At most ``limit`` items, evenly strided (deterministic, keeps the first and last)."""
    n = len(items)
    if n <= limit:
        return items
    step = (n - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def x_column(table: ResultsTable, metric: str) -> str:
    """The scatter's x axis: the metric's evaluator's ``throughput`` if it has one, else ``flops``."""
    inst = metric.rpartition(".")[0]
    for candidate in (f"{inst}.throughput", "flops"):
        if candidate in table.columns and candidate != metric:
            return candidate
    return "params"


def scatter_series(rows: list[dict[str, Any]], x: str, y: str, color: str = "ratio", bins: int = 4,
                   limit: int = MAX_POINTS) -> list[tuple[str, list[float], list[float]]]:
    """``(label, xs, ys)`` per ``color`` quantile bin (the seed-001 figure: accuracy vs
    throughput coloured by ratio), decimated to ``limit`` points in all."""
    pts = [(r[x], r[y], r.get(color)) for r in rows if numeric(r.get(x)) and numeric(r.get(y))]
    pts = decimate(pts, limit)
    coloured = sorted(c for _, _, c in pts if numeric(c))
    if not coloured:
        return [("", [p[0] for p in pts], [p[1] for p in pts])] if pts else []
    edges = [coloured[min(len(coloured) - 1, (len(coloured) * i) // bins)] for i in range(1, bins)]
    edges = sorted(set(edges))
    groups: list[tuple[list[float], list[float]]] = [([], []) for _ in range(len(edges) + 1)]
    for px, py, c in pts:
        i = sum(c > e for e in edges) if numeric(c) else len(edges)
        groups[i][0].append(px)
        groups[i][1].append(py)
    bounds = [coloured[0], *edges, coloured[-1]]
    out = []
    for i, (xs, ys) in enumerate(groups):
        if xs:
            out.append((f"{color} {bounds[i]:.2g}-{bounds[i + 1]:.2g}", xs, ys))
    return out


def metric_values(rows: list[dict[str, Any]], metric: str) -> list[float]:
    return [r[metric] for r in rows if numeric(r.get(metric))]


def best_so_far(rows: list[dict[str, Any]], metric: str, higher: bool, limit: int = MAX_POINTS) -> tuple[list[int], list[float]]:
    """Best value after each finished evaluation, in evaluation (candidate) order, decimated."""
    xs, ys = [], []
    best: float | None = None
    for v in metric_values(rows, metric):
        best = v if best is None else (max(best, v) if higher else min(best, v))
        xs.append(len(xs) + 1)
        ys.append(best)
    pts = decimate(list(zip(xs, ys)), limit)
    return [p[0] for p in pts], [p[1] for p in pts]


def view_columns(table: ResultsTable) -> list[str]:
    """Table columns for the TUI: the id, per evaluator its status and headline metrics, the
    space's parameters and cost summary, then the other metrics (those that repeat the summary,
    errors, trial counts and timings are left to the detail view)."""
    from rcx.core.results import ARCH_COLUMNS

    head = ["arch"]
    for inst in table.evaluators:
        head.append(f"{inst}.status")
        head += [f"{inst}.{m}" for m in table.headline.get(inst, ())]
    rest = []
    for c in table.columns:
        inst, _, name = c.rpartition(".")
        if inst and (name in ARCH_COLUMNS or name in ("error", "trials", "seconds")):
            continue
        if c != "out_shape" and c not in head:
            rest.append(c)
    return [c for c in head if c in table.columns] + rest
