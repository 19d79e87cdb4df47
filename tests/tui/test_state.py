"""The TUI's plain-Python state: progress, filters, chart series, column choice."""

from __future__ import annotations

import math

import pytest

from rcx.core import events as ev
from rcx.core.results import ResultsTable
from rcx.numfmt import axis_ticks
from rcx.tui.state import (
    FilterError,
    Progress,
    RowFilter,
    best_so_far,
    bin_labels,
    changed_rows,
    decimate,
    scatter_series,
    view_columns,
    x_column,
)


def _table() -> ResultsTable:
    rows = [
        {"arch": "k3_a", "params": 10, "ratio": 0.1, "e.status": "done", "e.acc": 0.5, "e.throughput": 100.0},
        {"arch": "k7_b", "params": 20, "ratio": 0.9, "e.status": "done", "e.acc": 0.7, "e.throughput": 10.0},
        {"arch": "k7_c", "params": 30, "ratio": 0.5, "e.status": "failed", "e.acc": None, "e.throughput": None},
    ]
    cols = ["arch", "params", "ratio", "e.status", "e.acc", "e.throughput", "e.error"]
    return ResultsTable(cols, rows, {"e.acc": True, "e.throughput": True}, ["e"], {"e": ("acc",)})


def test_progress_from_events_counts_rate_and_eta():
    p = Progress()
    p.apply(ev.RunStarted(1, 10, 2, 10, ("e",), True, "cpu"), now=0.0)
    for i, status in enumerate(["done", "done", "failed", "screened"], start=1):
        p.apply(ev.EvalFinished("a", "e", status), now=float(i))
    assert (p.done, p.total, p.state) == (6, 10, "running")
    assert p.rate_at(4.0) == pytest.approx(1.0) and p.eta_at(4.0) == pytest.approx(4.0)
    assert p.rate_at(8.0) == pytest.approx(0.5)  # a stall lowers the rate
    assert p.status_counts() == {"done": 2, "screened": 1, "invalid": 0, "failed": 1}
    p.apply(ev.RunFinished(1, {"done": 9, "failed": 1}, 5.0, cancelled=True))
    assert (p.done, p.state) == (10, "cancelled")


def test_a_stage_that_skips_candidates_counts_them_without_raising_the_rate():
    p = Progress()
    p.apply(ev.RunStarted(1, 20, 0, 10, ("a", "b"), False, "cpu"), now=0.0)
    for i in range(1, 11):
        p.apply(ev.EvalFinished(f"x{i}", "a", "done"), now=float(i))
    p.apply(ev.StageStarted(1, 2, ("b",), "b on the top 2 by a.score", 2, 8, 8), now=10.0)
    assert (p.done, p.skipped, p.counts["skipped"]) == (10, 8, 8), "skipped work is counted apart, not as done"
    assert p.rate_at(10.0) == pytest.approx(1.0) and p.eta_at(10.0) == pytest.approx(2.0)
    assert p.stage == "stage 2/2: b on the top 2 by a.score (2 candidates)"
    p.apply(ev.StageProgress((ev.StageCount(0, ("a",), 0, 0, 10, 0), ev.StageCount(1, ("b",), 2, 0, 0, 8))))
    assert ev.stage_line(p.stages) == "stage 1 (a): 10 done | stage 2 (b): 2 waiting, 8 skipped"
    p.apply(ev.RunFinished(1, {"done": 12, "skipped": 8}, 12.0, False), now=12.0)
    assert (p.done, p.skipped) == (12, 8)


def test_progress_snapshot_from_the_store():
    p = Progress()
    p.snapshot(3, 8, {"done": 2, "running": 1}, "running", now=0.0)
    p.snapshot(3, 8, {"done": 5}, "running", now=3.0)
    assert (p.done, p.state, p.rate_at(3.0)) == (5, "following", 1.0)
    assert math.isinf(Progress().eta)


def test_the_rate_counts_only_evaluations_that_computed_something():
    """Invalid candidates (the architecture does not fit the input) finish at once: a run of
    them read thousands per second. From events and from store snapshots alike."""
    p = Progress()
    p.apply(ev.RunStarted(1, 20, 0, 20, ("e",), False, "cpu"), now=0.0)
    for i in range(10):
        p.apply(ev.EvalFinished(f"a{i}", "e", "invalid"), now=0.001 * (i + 1))
    assert p.done == 10 and p.rate_at(0.01) == 0 and math.isinf(p.eta_at(0.01))
    for i in range(1, 4):
        p.apply(ev.EvalFinished(f"b{i}", "e", "done"), now=float(i))
    assert p.rate_at(3.0) == pytest.approx(1.0) and p.eta_at(3.0) == pytest.approx(7.0)

    q = Progress()
    q.snapshot(1, 20, {"invalid": 10}, "running", now=0.0)
    q.snapshot(1, 20, {"invalid": 16}, "running", now=1.0)
    assert q.done == 16 and q.rate_at(1.0) == 0
    q.snapshot(1, 20, {"invalid": 16, "done": 4}, "running", now=5.0)
    assert q.rate_at(5.0) == pytest.approx(4 / 5)


def test_a_snapshot_after_this_app_s_resumed_run_keeps_its_rate():
    """The file counts the sessions before a resumed run too: the snapshot after the run must
    not add them to the rate as if computed at its end."""
    p = Progress()
    p.apply(ev.RunStarted(1, 20, 10, 20, ("e",), True, "cpu"), now=0.0)
    for i in range(1, 4):
        p.apply(ev.EvalFinished(f"a{i}", "e", "done"), now=float(i))
    p.apply(ev.RunFinished(1, {"done": 6, "invalid": 7}, 3.0, cancelled=True), now=3.0)
    p.snapshot(1, 20, {"done": 6, "invalid": 7}, "cancelled", now=5.0)  # 3 of the 6 done before this run
    assert p.done == 13 and p.rate_at(5.0) == pytest.approx(1.0)


def test_rate_and_eta_leave_paused_time_out_and_wait_for_evidence():
    """Issue 12.3.5: 10 evaluations at 1/s, a 100 s pause, 2 more: still 1/s, ETA from it."""
    p = Progress()
    p.apply(ev.RunStarted(1, 20, 0, 20, ("e",), False, "cpu"), now=0.0)
    p.apply(ev.EvalStarted("a", "e"), now=0.0)
    p.apply(ev.EvalFinished("a", "e", "done"), now=0.1)  # a fast first one (warm-up elsewhere)
    assert p.rate_at(0.1) == 0 and math.isinf(p.eta_at(0.1))  # one evaluation says nothing yet
    for i in range(2, 11):
        p.apply(ev.EvalStarted("a", "e"), now=i - 1.0)
        p.apply(ev.EvalFinished("a", "e", "done"), now=float(i))
    p.apply(ev.EvalStarted("a", "e"), now=10.0)
    p.pause(now=10.5)  # the evaluation in flight still counts: the clock stops when it finishes
    p.apply(ev.EvalFinished("a", "e", "done"), now=11.0)
    assert p.active_seconds(111.0) == pytest.approx(11.0)
    p.resume(now=111.0)
    p.apply(ev.EvalFinished("a", "e", "done"), now=112.0)
    assert p.rate_at(112.0) == pytest.approx(1.0)
    assert p.eta_at(112.0) == pytest.approx(8.0)
    p.apply(ev.RunFinished(1, {"done": 12}, 112.0, cancelled=True), now=112.0)
    assert p.active_seconds(500.0) == pytest.approx(12.0)


def test_filter_words_and_metric_ranges():
    t = _table()
    assert [r["arch"] for r in t.rows if RowFilter.parse("k7", t)(r)] == ["k7_b", "k7_c"]
    assert [r["arch"] for r in t.rows if RowFilter.parse("acc>=0.6", t)(r)] == ["k7_b"]
    assert [r["arch"] for r in t.rows if RowFilter.parse("k3 params<15 status=done", t)(r)] == ["k3_a"]
    with pytest.raises(FilterError, match="nope>1: no column 'nope'"):
        RowFilter.parse("nope>1", t)


def test_scatter_is_binned_by_ratio_and_decimated():
    rows = [{"x": float(i), "y": float(i % 7), "ratio": i / 5000} for i in range(5000)]
    series = scatter_series(rows, "x", "y", bins=4, limit=400)
    assert len(series) == 4 and sum(len(xs) for _, xs, _ in series) == 400
    labels = [label for label, _, _ in series]
    assert len(set(labels)) == 4 and labels[0].startswith("0-")
    assert decimate(list(range(10)), 4) == [0, 3, 6, 9]


def test_bin_labels_and_axis_ticks_are_readable():
    """Issue 12.3.2 and 8: bins never read 0.01-0.01; counts are whole; no tick past the data."""
    assert bin_labels([0.0101, 0.0104, 0.0108, 0.02]) == ["0.0101", "0.0104", "0.0108", "0.0200"]
    ticks, labels = axis_ticks(0, 7, integer=True)
    assert all(t == int(t) for t in ticks) and labels == ["0", "2", "4", "6"]
    ticks, labels = axis_ticks(0.2, 1.0)
    assert max(ticks) <= 1.0 and labels[-1] == "1.0"
    ticks, labels = axis_ticks(2876.0, 50459.0, log=True)
    assert labels == ["5,000", "10,000", "20,000", "50,000"]


def test_best_so_far_follows_the_direction():
    rows = [{"m": v} for v in (3.0, 1.0, None, 5.0, 2.0)]
    assert best_so_far(rows, "m", higher=True) == ([1, 2, 3, 4], [3.0, 3.0, 5.0, 5.0])
    assert best_so_far(rows, "m", higher=False)[1] == [3.0, 1.0, 1.0, 1.0]


def test_changed_rows_and_columns():
    t = _table()
    prev = {r["arch"]: dict(r) for r in t.rows}
    t.rows[1]["e.acc"] = 0.8
    assert changed_rows(prev, t.rows) == {"k7_b"}
    assert changed_rows({}, t.rows) == {"k3_a", "k7_b", "k7_c"}
    assert view_columns(t)[:3] == ["arch", "e.status", "e.acc"] and "e.error" not in view_columns(t)
    assert x_column(t, "e.acc") == "e.throughput"


def test_a_pareto_filter_keeps_the_front_of_the_rows_the_rest_lets_through():
    rows = [
        {"arch": "k3_a", "e.score": 3.0, "e.status": "done", "flops": 30},
        {"arch": "k3_b", "e.score": 2.0, "e.status": "done", "flops": 10},
        {"arch": "k3_c", "e.score": 1.0, "e.status": "done", "flops": 20},
        {"arch": "k7_d", "e.score": 9.0, "e.status": "done", "flops": 5},
    ]
    t = ResultsTable(["arch", "flops", "e.status", "e.score"], rows, {"e.score": True}, ["e"], {})
    f = RowFilter.parse("pareto:score,flops", t)
    assert [r["arch"] for r in t.rows if f(r)] == ["k7_d"], "k7_d beats every other in both"
    f3 = RowFilter.parse("k3 pareto:score,flops", t)
    assert [r["arch"] for r in t.rows if f3(r)] == ["k3_a", "k3_b"], "the front among the k3 rows"
    rows.append({"arch": "k3_e", "e.score": 5.0, "e.status": "done", "flops": 1})
    assert [r["arch"] for r in t.rows if f3.refreshed(t)(r)] == ["k3_e"], "a new row moves the front"
    with pytest.raises(FilterError, match="pareto:score: .*at least two objectives"):
        RowFilter.parse("pareto:score", t)
