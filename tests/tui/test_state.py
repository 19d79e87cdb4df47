"""The TUI's plain-Python state: progress, filters, chart series, column choice."""

from __future__ import annotations

import math

import pytest

from rcx.core import events as ev
from rcx.core.results import ResultsTable
from rcx.tui.state import (FilterError, Progress, RowFilter, best_so_far, changed_rows, decimate, scatter_series,
                           view_columns, x_column)


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
    assert p.rate == pytest.approx(1.0) and p.eta == pytest.approx(4.0)
    assert p.status_counts() == {"done": 2, "screened": 1, "invalid": 0, "failed": 1}
    p.apply(ev.RunFinished(1, {"done": 9, "failed": 1}, 5.0, cancelled=True))
    assert (p.done, p.state) == (10, "cancelled")


def test_progress_snapshot_from_the_store():
    p = Progress()
    p.snapshot(3, 8, {"done": 2, "running": 1}, "running", now=0.0)
    p.snapshot(3, 8, {"done": 4}, "running", now=2.0)
    assert (p.done, p.state, p.rate) == (4, "following", 1.0)
    assert math.isinf(Progress().eta)


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
    assert all(label.startswith("ratio ") for label, _, _ in series)
    assert decimate(list(range(10)), 4) == [0, 3, 6, 9]


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
