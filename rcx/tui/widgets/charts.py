"""The live charts: metric vs throughput coloured by ratio, a histogram, best-so-far.

plotext rebuilds a plot on every repaint, so the series are decimated
(:data:`rcx.tui.state.MAX_POINTS`) and :meth:`Charts.update_data` replots only when the data
or the metric changed; the caller limits it to a few times a second.

The scatter's colour key is text under the plot (:class:`ColourKey`), never a plotext legend:
that one is drawn over the plot's top-left corner, where the best points are. Axis ticks are chosen
here (:func:`~rcx.numfmt.axis_ticks`): whole counts on the histogram, never past the data.
In a narrow terminal (the Run screen's ``-narrow`` class) one chart is shown at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from rcx.core.results import ResultsTable
from rcx.numfmt import axis_ticks
from rcx.termtable import format_value
from rcx.tui.state import best_so_far, column_label, metric_values, scatter_series, x_column

_COLOURS = ("blue", "green", "orange", "red", "magenta")
_RICH_COLOURS = {"orange": "dark_orange"}  # plotext's colour names in Rich
CHARTS = ("scatter", "hist", "best")


def _y_ticks(plot: PlotextPlot, values: list[float], integer: bool = False, low: float | None = None) -> None:
    """Round y ticks inside the data's range (from ``low`` when given)."""
    if values:
        ticks, labels = axis_ticks(min(values) if low is None else low, max(values), n=5, integer=integer)
        if ticks:
            plot.plt.yticks(ticks, labels)


def _x_ticks(plot: PlotextPlot, values: Sequence[float], integer: bool = False, log: bool = False) -> None:
    """Round x ticks inside the data's range; with ``log`` the plotted x values are log10 of the
    data (plotext's own log scale re-applies the log to its data on every repaint once ticks
    are set), so the ticks go at log10 of round values, labelled with the values."""
    if values:
        lo, hi = (10 ** min(values), 10 ** max(values)) if log else (min(values), max(values))
        ticks, labels = axis_ticks(lo, hi, n=4, integer=integer, log=log)
        if ticks:
            plot.plt.xticks([math.log10(t) for t in ticks] if log else ticks, labels)


def key_text(title: str, entries: list[tuple[str, str]], width: int) -> Text:
    """A colour key (``title``, then ``● label`` per ``(Rich colour, label)`` entry) packed into
    lines of ``width`` cells; a bullet never parts from its label."""
    pieces = [Text(title, style="dim")] if title else []
    pieces += [Text.assemble(("● ", colour), label) for colour, label in entries]
    lines: list[Text] = []
    for piece in pieces:
        if lines and lines[-1].cell_len + 2 + piece.cell_len <= width:
            lines[-1].append("  ").append_text(piece)
        else:
            lines.append(piece.copy())
    text = Text("\n").join(lines)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


class ColourKey(Static):
    """The scatter's colour key under the plot, laid out at the widget's width by :func:`key_text`."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.title = ""
        self.entries: list[tuple[str, str]] = []

    def show(self, title: str, entries: list[tuple[str, str]]) -> None:
        self.title, self.entries = title, entries
        self.refresh(layout=True)

    def render(self) -> Text:
        return key_text(self.title, self.entries, self.content_size.width or 80)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(key_text(self.title, self.entries, width).split()) if self.title or self.entries else 0


class Charts(Horizontal):
    """Three plots side by side (one at a time, cycled by :meth:`next_chart`, when narrow)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = 0  # the chart shown in a narrow terminal (index into CHARTS)

    def compose(self) -> ComposeResult:
        for i, name in enumerate(CHARTS):
            with Vertical(classes="chart-box" + (" -current" if i == self.current else ""), id=f"box-{name}"):
                yield PlotextPlot(id=f"chart-{name}")
                if name == "scatter":
                    yield ColourKey(id="scatter-key", classes="chart-key")

    def next_chart(self) -> None:
        """Show the next chart (in a narrow terminal, where one is shown at a time)."""
        self.query_one(f"#box-{CHARTS[self.current]}").remove_class("-current")
        self.current = (self.current + 1) % len(CHARTS)
        self.query_one(f"#box-{CHARTS[self.current]}").add_class("-current")

    def update_data(self, table: ResultsTable | None, metric: str | None) -> None:
        """Replot from ``table`` for ``metric``."""
        scatter, hist, best = (self.query_one(f"#chart-{n}", PlotextPlot) for n in CHARTS)
        key = self.query_one("#scatter-key", ColourKey)
        for p in (scatter, hist, best):
            p.plt.clear_data()
            p.plt.clear_figure()
        short = column_label(table, metric) if metric else ""
        if table is None or metric is None:
            # every plot titled: an untitled one starts its frame a row higher than its neighbours
            for p, title in ((scatter, "no results yet"), (hist, "histogram"), (best, "best so far")):
                p.plt.title(title)
                p.refresh()
            key.show("", [])
            return
        rows = table.rows
        x = x_column(table, metric)
        series = scatter_series(rows, x, metric)
        xs_all = [v for _, xs, _ in series for v in xs]
        log = bool(xs_all) and min(xs_all) > 0 and max(xs_all) > 20 * min(xs_all)
        if log:
            series = [(label, [math.log10(v) for v in xs], ys) for label, xs, ys in series]
            xs_all = [math.log10(v) for v in xs_all]
        legend: list[tuple[str, str]] = []
        for i, (label, xs, ys) in enumerate(series):
            colour = _COLOURS[i % len(_COLOURS)]
            scatter.plt.scatter(xs, ys, color=colour, marker="dot")
            if label:
                legend.append((_RICH_COLOURS.get(colour, colour), label))
        _x_ticks(scatter, xs_all, log=log)
        _y_ticks(scatter, [v for _, _, ys in series for v in ys])
        scatter.plt.title(f"{short} vs {column_label(table, x)}" + (" (log)" if log else ""))
        key.show("colour: ratio" if legend else "", legend)
        values = metric_values(rows, metric)
        if values:
            bins = min(20, max(5, len(values) // 3))
            hist.plt.hist(values, bins=bins, color="cyan")
            _y_ticks(hist, [0, max(_bin_counts(values, bins))], integer=True, low=0)
            _x_ticks(hist, values)
        hist.plt.title(f"{short}: {len(values):,} values")
        higher = table.higher_is_better.get(metric, True)
        bx, by = best_so_far(rows, metric, higher)
        if bx:
            best.plt.plot(bx, by, color="green", marker="braille")
            _y_ticks(best, by)
            _x_ticks(best, bx, integer=True)
        best.plt.title(f"best {short}" + (f": {format_value(by[-1])}" if by else ""))
        for p in (scatter, hist, best):
            p.refresh()


def _bin_counts(values: list[float], bins: int) -> list[int]:
    """Counts of ``bins`` equal-width bins over the values' range (as plotext's ``hist``)."""
    lo, hi = min(values), max(values)
    counts = [0] * bins
    width = (hi - lo) / bins or 1.0
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    return counts
