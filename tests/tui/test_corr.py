"""The Results screen's Correlation view: the numbers of ``rcx analyze corr``, column picks, scatter."""

from __future__ import annotations

import numpy as np
import pytest

from rcx.analysis.common import AnalysisError, fmt_p, fmt_r
from rcx.analysis.corr import corr_report
from rcx.core.results import ResultsTable
from rcx.tui.app import RcxApp
from rcx.tui.correlation import (
    CorrRequest,
    compute,
    default_request,
    describe_error,
    display_rows,
    fit_lines,
    group_columns,
    numeric_columns,
    scatter_series,
)
from rcx.tui.widgets.corr_view import CorrView
from rcx.tui.widgets.results_grid import ResultsGrid

from .conftest import sync, synthetic_results, wait_for


def _cells(app: RcxApp) -> list[list[str]]:
    table = app.screen.query_one("#corr-table")
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def _expected(report, group: str, pair: str) -> list[str]:
    g = next(g for g in report.groups if g.label == group)
    names = {report.x: "x", report.y: "y"}
    p = next(p for p in g.pairs if f"{names[p.x]}~{names.get(p.y, p.y)}" == pair)
    c = p.corr
    return [group, pair, f"{c.n:,}", fmt_r(c.pearson), fmt_p(c.pearson_p), fmt_r(c.spearman), fmt_p(c.spearman_p),
            fmt_r(c.kendall), fmt_p(c.kendall_p), c.note]


@sync
async def test_correlation_view_shows_corr_report_numbers(tmp_path, registry):
    path = synthetic_results(tmp_path / "results.db", registry, n=60)
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.table is not None, what="the results")
        view = app.screen.query_one(CorrView)
        assert not app.screen.showing_corr and not view.display
        await pilot.press("c")
        assert app.screen.showing_corr
        await wait_for(pilot, lambda: view.report is not None, what="the report")
        assert app.screen.corr_request == CorrRequest("ridge_a.val_acc", "ridge_b.val_acc")
        expected = corr_report(app.table, "ridge_a.val_acc", "ridge_b.val_acc")
        cells = _cells(app)
        assert len(cells) == 5  # x~y, then x and y against params and flops
        assert cells[0] == _expected(expected, "all", "x~y")
        main = expected.groups[0].pairs[0].corr
        assert cells[0][3] == fmt_r(main.pearson) and cells[0][5] == fmt_r(main.spearman)
        assert main.n == sum(r["ridge_a.status"] == "done" for r in app.table.rows) and main.pearson > 0.5
        assert cells[1] == _expected(expected, "all", "x~params")
        assert cells[4] == _expected(expected, "all", "y~flops")
        assert 0 < view.points <= main.n

        await pilot.press("b")  # group by depth, as --by depth
        picker = app.screen.query_one("#pick")
        picker.highlighted = [o.id for o in picker.options].index("depth")
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.report is not None and view.report.by == "depth", what="the grouped report")
        by_depth = corr_report(app.table, "ridge_a.val_acc", "ridge_b.val_acc", by="depth")
        cells = _cells(app)
        groups = [g.label for g in by_depth.groups]
        assert [c[0] for c in cells[:len(groups)]] == groups and len(groups) > 1
        for row in cells[:len(groups)]:
            assert row == _expected(by_depth, row[0], "x~y")

        await pilot.press("x")  # x = params, grouping kept
        picker = app.screen.query_one("#pick")
        picker.highlighted = [o.id for o in picker.options].index("params")
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.report is not None and view.report.x == "params", what="the new x")
        by_params = corr_report(app.table, "params", "ridge_b.val_acc", by="depth")
        assert _cells(app)[0] == _expected(by_params, "all", "x~y")

        await pilot.press("c")
        assert not app.screen.showing_corr and app.screen.query_one(ResultsGrid).has_focus


def _table() -> ResultsTable:
    rows = [{"arch": f"a{i}", "depth": 1 + i % 3, "params": 10 + i, "flops": 100.0 * i, "out_shape": "8x2x2",
             "e.status": "done", "e.acc": i / 10, "f.status": "done", "f.acc": (i % 7) / 7, "f.loss": 1 - i / 10}
            for i in range(10)]
    cols = list(rows[0]) + ["e.error"]
    return ResultsTable(cols, rows, {"e.acc": True, "f.acc": True, "f.loss": False}, ["e", "f"],
                        {"e": ("acc",), "f": ("loss",)})


def test_default_request_prefers_the_chart_metric_and_another_evaluators_val_acc():
    table = _table()
    assert default_request(table, None) == CorrRequest("e.acc", "f.loss")  # no val_acc: f's headline
    assert default_request(table, "f.acc") == CorrRequest("f.acc", "e.acc")
    one = ResultsTable(["arch", "e.acc"], [{"arch": "a", "e.acc": 1.0}], {"e.acc": True}, ["e"], {"e": ("acc",)})
    assert default_request(one, None) is None
    assert numeric_columns(table) == ["e.acc", "f.acc", "f.loss", "params", "flops"]
    assert group_columns(table) == ["depth", "params", "flops"]


def test_display_rows_and_series_follow_the_report():
    table = _table()
    report = corr_report(table, "e.acc", "f.acc", by="depth")
    rows = display_rows(report)
    assert [r[:2] for r in rows[:4]] == [("all", "x~y"), ("depth=1", "x~y"), ("depth=2", "x~y"), ("depth=3", "x~y")]
    assert rows[0][3] == fmt_r(report.groups[0].pairs[0].corr.pearson)
    assert len(rows) == 4 * 5
    series = scatter_series(report)
    assert [s[0] for s in series] == ["depth=1", "depth=2", "depth=3"]
    assert sum(len(s[1]) for s in series) == 10
    with pytest.raises(AnalysisError) as exc:
        compute(table, CorrRequest("nope", "f.acc"))
    assert describe_error(exc.value).startswith("cannot correlate: no column 'nope'")


def test_scatter_series_are_decimated():
    rng = np.random.default_rng(0)
    n = 30_000
    rows = [{"arch": f"a{i}", "params": i, "flops": float(i), "e.status": "done", "e.acc": float(v), "f.status": "done",
             "f.acc": float(w)} for i, (v, w) in enumerate(rng.random((n, 2)))]
    table = ResultsTable(list(rows[0]), rows, {"e.acc": True, "f.acc": True}, ["e", "f"],
                         {"e": ("acc",), "f": ("acc",)})
    report = corr_report(table, "e.acc", "f.acc")
    series = scatter_series(report, limit=2000)
    assert len(series) == 1 and len(series[0][1]) == 2000
    assert series[0][1][0] == report.groups[0].x[0] and series[0][1][-1] == report.groups[0].x[-1]


def test_fit_lines_wraps_at_words_and_marks_a_cut():
    text = "x = a   y = b\n30 of 60 usable; excluded 30: a missing 20, a invalid 10"
    assert fit_lines(text, 80, 2) == text  # it fits: unchanged
    assert fit_lines(text, 30, 3) == "x = a   y = b\n30 of 60 usable; excluded 30:\na missing 20, a invalid 10"
    assert fit_lines(text, 30, 2) == "x = a   y = b\n30 of 60 usable; excluded …"
    assert fit_lines("abcdefghijklmnop", 10, 1) == "abcdefgh …"  # one word longer than the line
    assert fit_lines(text, 0, 2) == "" and fit_lines("a b", 1, 1) == "…"
