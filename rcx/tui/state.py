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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from rcx.core import events as ev
from rcx.core.results import ResultsTable
from rcx.core.store import FINAL_STATES
from rcx.numfmt import format_bounds

STATUSES = ("done", "screened", "invalid", "failed")
"""Statuses every run shows a count for; evaluator-specific ones are added as they appear."""


def clock() -> float:
    """The progress clock (:func:`time.monotonic` seconds); tests replace it."""
    return time.monotonic()


RATE_WINDOW = 60.0
"""Seconds of active time the rate averages over (longer when fewer than
:data:`MIN_RATE_EVALS` evaluations finished in it)."""
MIN_RATE_EVALS = 3
"""Evaluations that must finish before a rate (and an ETA) is shown: the first one of a run
carries its warm-up and would put the ETA far off."""


@dataclass
class Progress:
    """done/total, rate, ETA and counts per status of one run, fed by events or store snapshots.

    The rate is measured on an *active* clock that stops while the run is paused (after the
    evaluation in flight finishes) and after it ends, so a pause never slows the rate down; it
    counts evaluations that computed something (``computed``: not
    :data:`~rcx.core.events.NOTHING_COMPUTED`), so a run of invalid candidates has none.
    Times are :func:`clock` seconds; every method takes ``now`` for tests.
    """

    run_id: int = 0
    total: int = 0
    done: int = 0  # evaluations that ran (skipped ones apart)
    skipped: int = 0  # evaluations a stage did not select
    stages: tuple = ()  # rcx.core.events.StageCount of every stage
    counts: dict[str, int] = field(default_factory=dict)
    device: str = ""
    state: str = "idle"  # idle | loading | running | paused | cancelling | finished | cancelled | failed | following
    current: str = ""
    stage: str = ""  # the stage running, in words (plans with stages only)
    computed: int = 0  # evaluations that computed something (the rate's count; it only takes differences)
    counted: int | None = None  # ``computed`` as the last store snapshot counted it (all the file's sessions)
    samples: deque = field(default_factory=lambda: deque(maxlen=512))  # (active seconds, computed)
    in_flight: int = 0  # evaluations started and not finished
    active_base: float = 0.0  # active seconds before the current stretch
    active_from: float | None = None  # start of the current active stretch (None: the clock is stopped)
    workers: tuple = ()  # ev.WorkerInfo of a distributed executor's workers (empty in-process)

    # -- the active clock ----------------------------------------------------------------------
    def active_seconds(self, now: float | None = None) -> float:
        """Seconds the run has been running (pauses left out)."""
        now = clock() if now is None else now
        return self.active_base + (now - self.active_from if self.active_from is not None else 0.0)

    def _start_clock(self, now: float) -> None:
        if self.active_from is None:
            self.active_from = now

    def _stop_clock(self, now: float) -> None:
        if self.active_from is not None:
            self.active_base += now - self.active_from
            self.active_from = None

    def pause(self, now: float | None = None) -> None:
        """The user paused: the clock stops once the evaluation in flight has finished."""
        now = clock() if now is None else now
        self.state = "paused"
        if not self.in_flight:
            self._stop_clock(now)

    def resume(self, now: float | None = None) -> None:
        now = clock() if now is None else now
        self.state = "running"
        self._start_clock(now)

    # -- folding in events -------------------------------------------------------------------------
    def apply(self, event: ev.Event, now: float | None = None) -> None:
        """Fold one runner event in."""
        now = clock() if now is None else now
        if isinstance(event, ev.RunStarted):
            self.run_id, self.total, self.device = event.run_id, event.total, event.device
            self.done, self.skipped = event.done - event.skipped, event.skipped
            self.state, self.in_flight, self.active_base, self.active_from = "running", 0, 0.0, now
            self.computed, self.counted = 0, None
            self.samples.clear()
            self.samples.append((0.0, self.computed))
            self.workers = ()
        elif isinstance(event, ev.StageStarted):
            if event.newly_skipped:  # finished without work: counted apart, so the rate does not jump
                self.skipped += event.newly_skipped
                self.counts["skipped"] = self.counts.get("skipped", 0) + event.newly_skipped
            self.stage = f"stage {event.stage + 1}/{event.stages}: {event.rule} ({event.selected:,} candidates)"
        elif isinstance(event, ev.Workers):
            self.workers = event.workers
        elif isinstance(event, ev.StageProgress):
            self.stages = event.stages
        elif isinstance(event, ev.EvalStarted):
            self.current = f"{event.arch} / {event.evaluator}"
            self.in_flight += 1
        elif isinstance(event, ev.EvalFinished):
            self.done += 1
            self.in_flight = max(0, self.in_flight - 1)
            self.counts[event.status] = self.counts.get(event.status, 0) + 1
            if event.status not in ev.NOTHING_COMPUTED:
                self.computed += 1
                self.samples.append((self.active_seconds(now), self.computed))
            if self.state == "paused" and not self.in_flight:
                self._stop_clock(now)
        elif isinstance(event, ev.RunFinished):
            self.counts = dict(event.counts)
            self.skipped = event.counts.get("skipped", 0)
            self.done = sum(n for s, n in event.counts.items() if s in FINAL_STATES) - self.skipped
            self.state = "cancelled" if event.cancelled else "finished"
            self.current, self.in_flight = "", 0
            self._stop_clock(now)

    def snapshot(self, run_id: int, total: int, counts: dict[str, int], run_state: str,
                 now: float | None = None) -> None:
        """Take the numbers from the store (following a run that another process writes; its
        pauses cannot be seen, so its clock runs while the file says ``running``)."""
        now = clock() if now is None else now
        self.run_id, self.total, self.counts = run_id, total, dict(counts)
        self.skipped = counts.get("skipped", 0)
        done = sum(n for s, n in counts.items() if s in FINAL_STATES) - self.skipped
        counted = sum(n for s, n in counts.items() if s in FINAL_STATES and s not in ev.NOTHING_COMPUTED)
        # what was computed since the last snapshot: the file also counts the sessions before
        # this app's run, which that run's events (and so ``computed``) leave out
        new = counted - self.counted if self.counted is not None else 0
        self.counted = counted
        if run_state == "running":
            self._start_clock(now)
        if new or not self.samples:
            self.computed += new
            self.samples.append((self.active_seconds(now), self.computed))
        self.done = done
        if run_state != "running":
            self._stop_clock(now)
        self.state = "following" if run_state == "running" else run_state

    # -- rate and ETA ------------------------------------------------------------------------------
    def rate_at(self, now: float | None = None) -> float:
        """Evaluations that computed something per active second over the last
        :data:`RATE_WINDOW` seconds, up to now (so a stall lowers it); 0 until
        :data:`MIN_RATE_EVALS` of them have finished (and so for a run of invalid candidates)."""
        t = self.active_seconds(now)
        base = None
        for tj, dj in reversed(self.samples):  # back to the window's start, further if it holds too few
            base = (tj, dj)
            if tj <= t - RATE_WINDOW and self.computed - dj >= MIN_RATE_EVALS:
                break
        if base is None or self.computed - base[1] < MIN_RATE_EVALS or t <= base[0]:
            return 0.0
        return (self.computed - base[1]) / (t - base[0])

    def eta_at(self, now: float | None = None) -> float:
        """Active seconds left at :meth:`rate_at` (inf when unknown)."""
        rate = self.rate_at(now)
        return (self.total - self.done - self.skipped) / rate if rate > 0 else math.inf

    @property
    def rate(self) -> float:
        return self.rate_at()

    @property
    def eta(self) -> float:
        return self.eta_at()

    def status_counts(self) -> dict[str, int]:
        """The four common statuses (0 when absent), then any other final status seen."""
        out = {s: self.counts.get(s, 0) for s in STATUSES}
        out.update({s: n for s, n in self.counts.items() if s not in out and s != "running"})
        return out


MAX_LIVE_CURVES = 64
"""Learning curves kept while a run streams them (the oldest go first; finished ones are in the
results file too)."""


@dataclass
class LiveCurves:
    """Learning curves as a run streams them (:class:`~rcx.core.events.CurvePoint` events), per
    ``(arch, evaluator)``: each a list of points ``{"step", "epoch", **metrics}``, the shape
    :meth:`Store.curves <rcx.core.store.Store.curves>` returns. ``version`` goes up with every
    change; ``latest`` is the curve that grew last."""

    curves: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    version: int = 0
    latest: tuple[str, str] | None = None
    limit: int = MAX_LIVE_CURVES

    def apply(self, event: ev.Event) -> bool:
        """Fold one runner event in; True when a curve changed."""
        if isinstance(event, ev.CurvePoint):
            key = (event.arch, event.evaluator)
            points = self.curves.pop(key, [])
            self.curves[key] = points  # the most recent last
            points.append({"step": event.step, "epoch": event.epoch, **event.metrics})
            while len(self.curves) > self.limit:
                del self.curves[next(iter(self.curves))]
        elif isinstance(event, ev.EvalStarted):  # a restarted evaluation's old curve goes, as in the store
            key = (event.arch, event.evaluator)
            if self.curves.pop(key, None) is None:
                return False
            if self.latest == key:
                self.latest = None
            self.version += 1
            return True
        else:
            return False
        self.latest = key
        self.version += 1
        return True

    def of(self, arch: str) -> dict[str, list[dict[str, Any]]]:
        """The live curves of ``arch``, by evaluator instance."""
        return {e: list(pts) for (a, e), pts in self.curves.items() if a == arch}


def cut_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: a longer one keeps its start and its end around
    an ellipsis (an architecture id's both ends tell it apart; the results table cuts ids so)."""
    if len(text) <= width:
        return text
    keep = max(1, width - 1)
    return f"{text[:keep // 2]}…{text[len(text) - (keep - keep // 2):]}"


def fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


# -- filtering ----------------------------------------------------------------------------------
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_TERM_RE = re.compile(r"^([A-Za-z_][\w.]*)(>=|<=|!=|>|<|=)(.+)$")


class FilterError(ValueError):
    """A filter query that cannot be used; the message says which term and why."""


@dataclass(frozen=True)
class RowFilter:
    """``k7 s1 val_acc>=0.3 throughput<500 pareto:score,flops``: words must occur in the
    architecture id, terms ``COLUMN OP VALUE`` compare a column (full name or a unique metric
    name) with a number or text, and ``pareto:X,Y[,...]`` keeps the rows on the Pareto front of
    those columns among the rows the rest lets through (``front``: their ids, recomputed by
    :meth:`refreshed` when the table changes). ``rank:X,Y[,...]`` adds the rank average of those
    columns (:mod:`rcx.core.scores`) as the column ``rank`` names, and the table sorts by it."""

    words: tuple[str, ...] = ()
    terms: tuple[tuple[str, str, Any], ...] = ()
    pareto: tuple[Any, ...] = ()  # rcx.analysis.pareto.Objective
    front: frozenset[str] | None = None
    rank: str | None = None  # the rank-average column to sort by (rankavg(a,b,c))

    @classmethod
    def parse(cls, query: str, table: ResultsTable) -> RowFilter:
        words, terms, rank = [], [], None
        pareto: tuple[Any, ...] = ()
        for token in query.split():
            if token.lower().startswith("rank:"):
                from rcx.core.scores import parse_score

                try:
                    cols = [table.resolve(c) for c in parse_score(token.partition(":")[2])]
                    rank = table.add_rank_average(cols) if len(cols) > 1 else cols[0]
                except (KeyError, ValueError) as exc:
                    raise FilterError(f"{token}: {exc.args[0]}") from None
                continue
            if token.lower().startswith("pareto:"):
                from rcx.analysis.common import AnalysisError
                from rcx.analysis.pareto import parse_objectives

                try:
                    pareto = tuple(parse_objectives(token.partition(":")[2], table))
                except AnalysisError as exc:
                    raise FilterError(f"{token}: {exc}") from None
                continue
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
        return cls(tuple(words), tuple(terms), pareto, rank=rank).refreshed(table)

    def refreshed(self, table: ResultsTable) -> RowFilter:
        """This filter with its rank average added to ``table`` and its Pareto front computed
        over ``table``'s rows (itself without either)."""
        if self.rank and self.rank not in table.columns:
            try:
                table.resolve(self.rank)
            except KeyError:  # a column went away
                pass
        if not self.pareto:
            return self
        from rcx.analysis.pareto import pareto_front

        front, _ = pareto_front(table, self.pareto, [r for r in table.rows if self._passes(r)])
        return replace(self, front=frozenset(r["arch"] for r in front))

    def __call__(self, row: dict[str, Any]) -> bool:
        if not self._passes(row):
            return False
        return self.front is None or row.get("arch") in self.front

    def _passes(self, row: dict[str, Any]) -> bool:
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


def numeric(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def decimate(items: list, limit: int = MAX_POINTS) -> list:
    """At most ``limit`` items, evenly strided (deterministic, keeps the first and last)."""
    n = len(items)
    if n <= limit:
        return items
    step = (n - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def column_label(table: ResultsTable | None, column: str) -> str:
    """``column`` as a chart names it: its metric name alone (``val_acc``) when no other column
    of ``table`` has that name, else in full (``lc_frozen.val_acc`` beside ``trained.val_acc``)."""
    name = column.rpartition(".")[2]
    if table is None or not name or any(c != column and c.rpartition(".")[2] == name for c in table.columns):
        return column
    return name


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
    bounds = bin_labels([coloured[0], *edges, coloured[-1]])
    out = []
    for i, (xs, ys) in enumerate(groups):
        if xs:
            out.append((bounds[i] if bounds[i] == bounds[i + 1] else f"{bounds[i]}-{bounds[i + 1]}", xs, ys))
    return out


def bin_labels(bounds: list[float]) -> list[str]:
    """``bounds`` with the fewest significant digits (3 or more) that keep distinct values
    distinct, so bin labels never read ``0.01-0.01`` (:func:`rcx.numfmt.format_bounds`)."""
    return format_bounds(bounds)


def metric_values(rows: list[dict[str, Any]], metric: str) -> list[float]:
    return [r[metric] for r in rows if numeric(r.get(metric))]


def best_so_far(rows: list[dict[str, Any]], metric: str, higher: bool,
                limit: int = MAX_POINTS) -> tuple[list[int], list[float]]:
    """Best value after each finished evaluation, in evaluation (candidate) order, decimated."""
    xs: list[int] = []
    ys: list[float] = []
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
    errors, trial counts and timings are left to the detail view). A rank average (``rank:``
    in the filter, or ``s``) comes right after the id: the table is sorted by it."""
    from rcx.core.results import ARCH_COLUMNS
    from rcx.core.scores import RANK_AVERAGE

    head = ["arch", *(c for c in table.columns if c.startswith(f"{RANK_AVERAGE}("))]
    for inst in table.evaluators:
        head.append(f"{inst}.status")
        head += [f"{inst}.{m}" for m in table.headline.get(inst, ())]
    rest = []
    for c in table.columns:
        inst, _, name = c.rpartition(".")
        if inst and (name in ARCH_COLUMNS or name in ("error", "trials", "seconds", "cpu_s")):
            continue
        if c != "out_shape" and c not in head:
            rest.append(c)
    return [c for c in head if c in table.columns] + rest
