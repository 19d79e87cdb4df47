"""The Results screen's Correlation view: ``rcx analyze corr`` numbers and a y-vs-x scatter.

The report is computed by an App thread worker (30,000 rows take a moment) that posts
:class:`CorrComputed`; the view only displays it: a small table of coefficients per group and
pair, and one decimated plotext scatter, replotted once per report.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from rcx.analysis.corr import CorrReport
from rcx.numfmt import set_round_ticks
from rcx.tui.correlation import HEADERS, CorrRequest, display_rows, fit_lines, scatter_series, short, summary

_COLOURS = ("blue", "green", "orange", "red", "magenta", "cyan", "yellow", "white")


class CorrComputed(Message):
    """A correlation report (or the reason there is none) for ``request`` on table ``version``."""

    def __init__(self, request: CorrRequest, version: int, report: CorrReport | None, error: str = "") -> None:
        super().__init__()
        self.request = request
        self.version = version
        self.report = report
        self.error = error


class FittedText(Widget):
    """Text in the widget's rows, wrapped at word boundaries; what does not fit is cut after a
    whole word with an ellipsis (:func:`~rcx.tui.correlation.fit_lines`), refitted when resized."""

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.text, self.style_name = text, ""

    def update(self, text: str, style: str = "") -> None:
        self.text, self.style_name = text, style
        self.refresh()

    def render(self) -> Text:
        size = self.content_size
        return Text(fit_lines(self.text, size.width, size.height), style=self.style_name, no_wrap=True,
                    overflow="crop")


class CorrView(Vertical):
    """Summary line, coefficient table and scatter of one :class:`CorrReport`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.report: CorrReport | None = None
        self.points = 0  # points in the scatter as last drawn (decimated)

    def compose(self) -> ComposeResult:
        yield FittedText("computing…", id="corr-summary")
        yield DataTable(id="corr-table", cursor_type="row", zebra_stripes=True)
        yield PlotextPlot(id="corr-plot")

    def show_message(self, text: str, error: bool = False) -> None:
        """Show ``text`` instead of a report (nothing to correlate, or an unusable column)."""
        self.report = None
        self.query_one("#corr-summary", FittedText).update(text, "red" if error else "")
        self.query_one("#corr-table", DataTable).clear(columns=True)
        self._plot(None)

    def show_report(self, report: CorrReport) -> None:
        """Display ``report``: its summary, one table row per (group, pair), the scatter."""
        self.report = report
        self.query_one("#corr-summary", FittedText).update(summary(report))
        table = self.query_one("#corr-table", DataTable)
        rows = display_rows(report)
        table.clear(columns=True)  # columns sized to the rows up front: no later width change to repaint
        for i, h in enumerate(HEADERS):
            table.add_column(h.strip(), key=h, width=max(len(h.strip()), *(len(r[i]) for r in rows)))
        for i, row in enumerate(rows):
            table.add_row(*row, key=str(i))
        self._plot(report)

    def _plot(self, report: CorrReport | None) -> None:
        plot = self.query_one("#corr-plot", PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        self.points = 0
        if report is not None:
            series = scatter_series(report)
            for i, (label, xs, ys) in enumerate(series):
                plot.plt.scatter(xs, ys, label=label or None, color=_COLOURS[i % len(_COLOURS)], marker="dot")
                self.points += len(xs)
            set_round_ticks(plot.plt, [v for _, xs, _ in series for v in xs], [v for _, _, ys in series for v in ys])
            x, y = (short(report.x), short(report.y)) if short(report.x) != short(report.y) else (report.x, report.y)
            plot.plt.xlabel(x)
            plot.plt.title(f"{y} vs {x}: {report.n_usable:,} architectures"
                           + (f" ({self.points:,} drawn)" if self.points < report.n_usable else ""))
        plot.refresh()
