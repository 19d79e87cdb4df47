"""The TUI as a user met it (issue 12, part 3): one Pilot test per defect, each failing before its fix."""

from __future__ import annotations

import io
import re

from rich.console import Console
from textual.widgets import Static
from textual.widgets._footer import FooterKey
from textual_plotext import PlotextPlot

from rcx.cli import build_parser
from rcx.core import events as ev
from rcx.termtable import format_value, print_table
from rcx.tui.app import RcxApp
from rcx.tui.messages import RunEvent
from rcx.tui.screens.detail import DetailScreen
from rcx.tui.screens.plan import PlanScreen
from rcx.tui.widgets.charts import Charts
from rcx.tui.widgets.results_grid import ResultsGrid

from .conftest import fixed_results, settle, sync, wait_for

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plot_text(plot: PlotextPlot) -> str:
    """What the plot draws at its size, without colours."""
    plot.plt.plotsize(plot.size.width, plot.size.height)
    return _ANSI.sub("", plot.plt.build())


def _y_labels(text: str) -> list[str]:
    """The y tick labels of a plotext drawing (the text left of each ``┤``)."""
    return [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]


async def _open(pilot, key: str | None = None) -> None:
    await settle(pilot)
    if key:
        await pilot.press(key)
        await settle(pilot)


@sync
async def test_1_a_sort_shows_the_top_of_the_list(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry, n=40))
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot)
        grid = app.screen.query_one(ResultsGrid)
        for press in (("r",), ("s", "end", "enter"), None):
            grid.move_cursor(row=35, animate=False)
            await wait_for(pilot, lambda: grid.scroll_y > 0, what="the table to scroll to row 35")
            if press is None:
                await pilot.click(ResultsGrid, offset=(3, 0))  # the "arch" header
            else:
                await pilot.press(*press)
            await settle(pilot)
            assert grid.cursor_row == 0 and grid.scroll_y == 0, press
            assert grid.visible_rows()[0] == app.table.sorted(grid.sort_column, grid.descending)[0]


@sync
async def test_2_the_scatter_key_is_outside_the_plot_with_readable_bins(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry, n=20))
    async with app.run_test(size=(120, 35)) as pilot:
        await _open(pilot, "f3")
        drawn = _plot_text(app.screen.query_one("#chart-scatter", PlotextPlot))
        assert "ratio" not in drawn and "-" not in drawn.split("\n", 1)[1]  # nothing written over the data
        key = str(app.screen.query_one("#scatter-key", Static).render())
        bins = re.findall(r"● (\S+)", key)
        assert key.startswith("colour: ratio") and len(bins) >= 2
        assert len(set(bins)) == len(bins) and all(b.split("-")[0] != b.split("-")[-1] for b in bins if "-" in b)


@sync
async def test_3_escape_leaves_the_correlation_view(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry))
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, "c")
        assert app.screen.showing_corr
        await pilot.press("escape")
        assert not app.screen.showing_corr and app.screen.query_one(ResultsGrid).has_focus


def _footer_keys(app) -> dict[str, FooterKey]:
    return {k.key: k for k in app.screen.query(FooterKey)}


@sync
async def test_4_an_80x24_terminal_shows_every_key_chart_title_and_table(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry))
    async with app.run_test(size=(80, 24)) as pilot:
        for key, must in (("f3", {"v", "f1", "f2", "f3", "f4", "ctrl+q"}),
                          ("f4", {"s", "r", "slash", "c", "f1", "f2", "f3", "f4", "ctrl+q"})):
            await _open(pilot, key)
            keys = _footer_keys(app)
            assert must <= set(keys), (key, sorted(keys))
            assert all(k.region.right <= 80 and k.region.width > 0 for k in keys.values()), key
            if key == "f3":  # one chart at a time, its title drawn; the status lines fit
                charts = app.screen.query_one(Charts)
                shown = [b for b in charts.query(".chart-box") if b.display]
                assert len(shown) == 1
                assert "val_acc vs throughput" in _plot_text(shown[0].query_one(PlotextPlot)).split("\n")[0]
                await pilot.press("v")
                await settle(pilot)
                hist = app.screen.query_one("#chart-hist", PlotextPlot)
                assert hist.region.width > 0 and re.search(r"val_acc: \d+ values", _plot_text(hist).split("\n")[0])
                lines = str(app.screen.query_one("#run-title", Static).render()).splitlines()
                assert "12/12 evaluations" in lines[1] and len(lines[1]) <= 78

        await pilot.press("c")  # the Correlation view: a scatter worth the name
        await settle(pilot)
        assert app.screen.query_one("#corr-plot").size.height >= 10

        await pilot.press("c", "enter")  # the detail: the layer table whole
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown is not None,
                       what="the detail")
        await settle(pilot)
        body = app.screen.query_one("#detail-body", Static)
        console = Console(width=body.content_size.width, file=io.StringIO(), record=True)
        console.print(app.screen.shown)
        text = console.export_text()
        header = next(line for line in text.splitlines() if "layer" in line and "params" in line)
        for column in ("#", "layer", "channels", "out (C,H,W)", "params", "MACs"):
            assert column in header, (column, header)


@sync
async def test_5_rate_and_eta_leave_pauses_out(tmp_path, registry, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("rcx.tui.state.clock", lambda: clock[0])
    app = RcxApp(registry)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        app.on_run_event(RunEvent(ev.RunStarted(1, 20, 0, 20, ("e",), False, "cpu")))
        for i in range(10):
            app.on_run_event(RunEvent(ev.EvalStarted(f"a{i}", "e")))
            clock[0] += 1.0
            app.on_run_event(RunEvent(ev.EvalFinished(f"a{i}", "e", "done")))
        app.progress.pause()
        clock[0] += 600.0  # ten minutes paused
        app.progress.resume()
        app.on_run_event(RunEvent(ev.EvalStarted("a10", "e")))
        clock[0] += 1.0
        app.on_run_event(RunEvent(ev.EvalFinished("a10", "e", "done")))
        app.screen.refresh_view()
        line = str(app.screen.query_one("#run-title", Static).render()).splitlines()[1]
        assert "11/20 evaluations" in line and "rate 1.00/s" in line and "ETA 9s" in line, line


@sync
async def test_6_following_a_file_offers_no_pause_or_cancel(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry, running=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, "f3")
        assert app.progress.state == "following"
        keys = _footer_keys(app)
        assert "space" not in keys and "c" not in keys and "f4" in keys
        assert app.sub_title.endswith("run 1 (fixed, following)")


@sync
async def test_8_one_number_format_and_whole_counts(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry))
    async with app.run_test(size=(120, 35)) as pilot:
        await _open(pilot)
        grid = app.screen.query_one(ResultsGrid)
        stream = io.StringIO()
        cols = ["arch", "ridge_rfm.throughput", "ridge_rfm.val_acc", "ridge_rfm.val_acc_std", "params"]
        print_table(cols, app.table.rows, stream=stream)
        cli = stream.getvalue()
        for row in app.table.rows:
            for c in cols[1:]:
                cell = grid.get_cell(row["arch"], c)
                assert cell == format_value(row.get(c)) and cell in cli, (c, cell)
        assert any("," in grid.get_cell(r["arch"], "ridge_rfm.throughput") for r in app.table.rows)
        await pilot.press("f3")
        await settle(pilot)
        hist = _y_labels(_plot_text(app.screen.query_one("#chart-hist", PlotextPlot)))
        assert hist and all(label.isdigit() for label in hist), hist
        for chart in ("#chart-best", "#chart-scatter"):  # accuracies: no tick past the data
            labels = [float(v) for v in _y_labels(_plot_text(app.screen.query_one(chart, PlotextPlot))) if v]
            assert labels and max(labels) <= max(r["ridge_rfm.val_acc"] or 0 for r in app.table.rows), (chart, labels)


@sync
async def test_9_a_results_file_opens_with_its_plan(tmp_path, registry):
    path = fixed_results(tmp_path / "r.db", registry)
    app = RcxApp(registry, db_path=path)
    assert app.draft.name == "fixed" and app.draft.output == str(path)
    assert app.draft.evaluators["ridge_rfm"].values == {"trials": 2} and app.draft.sampler["kind"] == "exhaustive"
    async with app.run_test(size=(100, 30)) as pilot:
        await _open(pilot, "f2")
        assert isinstance(app.screen, PlanScreen)
        assert app.screen.query_one("#f-name").value == "fixed"
        assert "plan ok" in str(app.screen.query_one("#plan-status").render())
    usage = build_parser().format_help()
    assert "rcx [PLAN.toml | RESULTS.db]" in usage and "terminal UI" in usage
