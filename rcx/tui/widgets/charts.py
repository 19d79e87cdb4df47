"""The live charts: metric vs throughput coloured by ratio, a histogram, best-so-far.

plotext rebuilds a plot on every repaint, so the series are decimated
(:data:`rcx.tui.state.MAX_POINTS`) and :meth:`Charts.update_data` replots only when the data
or the metric changed; the caller limits it to a few times a second.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual_plotext import PlotextPlot

from rcx.core.results import ResultsTable
from rcx.tui.state import best_so_far, metric_values, scatter_series, x_column

_COLOURS = ("blue", "green", "orange", "red", "magenta")


class Charts(Horizontal):
    """Three plots side by side (stacked by the stylesheet in narrow terminals)."""

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="chart-scatter")
        yield PlotextPlot(id="chart-hist")
        yield PlotextPlot(id="chart-best")

    def update_data(self, table: ResultsTable | None, metric: str | None) -> None:
        """Replot from ``table`` for ``metric``."""
        scatter, hist, best = (self.query_one(f"#chart-{n}", PlotextPlot) for n in ("scatter", "hist", "best"))
        for p in (scatter, hist, best):
            p.plt.clear_data()
            p.plt.clear_figure()
        short = metric.rpartition(".")[2] if metric else ""
        if table is None or metric is None:
            for p, title in ((scatter, "no results yet"), (hist, ""), (best, "")):
                p.plt.title(title)
                p.refresh()
            return
        rows = table.rows
        x = x_column(table, metric)
        series = scatter_series(rows, x, metric)
        xs_all = [v for _, xs, _ in series for v in xs]
        if xs_all and min(xs_all) > 0 and max(xs_all) > 20 * min(xs_all):
            scatter.plt.xscale("log")
        for i, (label, xs, ys) in enumerate(series):
            scatter.plt.scatter(xs, ys, label=label or None, color=_COLOURS[i % len(_COLOURS)], marker="dot")
        scatter.plt.title(f"{short} vs {x.rpartition('.')[2]}")
        values = metric_values(rows, metric)
        if values:
            hist.plt.hist(values, bins=min(20, max(5, len(values) // 3)), color="cyan")
        hist.plt.title(f"{short}: {len(values):,} values")
        higher = table.higher_is_better.get(metric, True)
        bx, by = best_so_far(rows, metric, higher)
        if bx:
            best.plt.plot(bx, by, color="green", marker="braille")
        best.plt.title(f"best {short} so far" + (f": {by[-1]:.4g}" if by else ""))
        for p in (scatter, hist, best):
            p.refresh()
