"""The TUI as a researcher met it on small real runs (review of 2026-12-07): one Pilot test per
defect, each failing before its fix."""

from __future__ import annotations

import re

from textual.widgets import Static
from textual_plotext import PlotextPlot

from rcx.tui.app import RcxApp

from .conftest import settle, sync, synthetic_results

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plot_title(plot: PlotextPlot) -> str:
    """The first line plotext draws for ``plot`` at its size: the title."""
    plot.plt.plotsize(plot.size.width, plot.size.height)
    return _ANSI.sub("", plot.plt.build()).split("\n")[0].strip()


@sync
async def test_charts_name_the_evaluator_when_two_share_a_metric(tmp_path, registry):
    """ridge_a and ridge_b both report val_acc: "val_acc vs throughput" did not say whose."""
    app = RcxApp(registry, db_path=synthetic_results(tmp_path / "r.db", registry, n=30))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        metric = app.chart_metric
        assert metric == "ridge_a.val_acc"
        counts = str(app.screen.query_one("#run-counts", Static).render())
        assert f"chart: {metric} " in counts
        titles = [_plot_title(app.screen.query_one(f"#chart-{n}", PlotextPlot)) for n in ("scatter", "hist", "best")]
        assert titles[0] == f"{metric} vs ridge_a.throughput", titles
        assert titles[1].startswith(f"{metric}: ") and titles[2].startswith(f"best {metric}: "), titles
