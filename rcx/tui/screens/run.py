"""The Run screen: done/total, rate, ETA, counts per status, the workers of a distributed run
(which node and device, running what), the learning curve a training evaluator is streaming
(growing as its epochs finish; hidden for runs without curves), live charts and the log.

It pulls the App's state four times a second; the charts replot only when the results table
or the chosen metric changed. Below 110 columns one chart is shown at a time (``v`` shows the
next), below 30 rows the log is shorter and a live learning curve takes the charts' place
(``v`` switches between them): the stylesheet keys on the breakpoint classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, ProgressBar, RichLog, Static

from rcx.core import events as ev
from rcx.termtable import format_value
from rcx.tui.state import column_label, cut_middle, fmt_duration
from rcx.tui.widgets.charts import CHARTS, Charts
from rcx.tui.widgets.curve import curve_text
from rcx.tui.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from textual import getters

    from rcx.tui.app import RcxApp

CURVE_HEIGHT = 10
"""Rows of the live learning-curve plot (from 30 rows; below, the rows the charts would take)."""
FIXED_ROWS = 13
"""Rows the rest of the screen takes below 30 rows: header, title (3), bar, counts, log (5 and
its rule) and footer."""
_LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": ""}
_STATE_STYLE = {"running": "green", "paused": "yellow", "cancelling": "yellow", "failed": "bold red",
                "cancelled": "yellow", "finished": "green", "interrupted": "yellow", "following": "cyan"}


class RunScreen(Screen):
    """Watch the current run (or the results file opened)."""

    if TYPE_CHECKING:  # typed: the screen runs in rcx's app, whose state it reads
        app = getters.app(RcxApp)

    BINDINGS = [
        Binding("space", "app.toggle_pause", "Pause/resume", key_display="space"),
        Binding("c", "app.cancel_run", "Cancel"),
        Binding("v", "next_chart", "Chart"),
        Binding("q", "app.quit", "Quit", show=False),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    def __init__(self) -> None:
        super().__init__()
        self._log_pos = 0
        self._chart_key: tuple = ()
        self._curve_key: tuple = ()
        self.curve_first = True  # below 30 rows: the live curve shown in the charts' place

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-title")
        yield ProgressBar(total=None, show_eta=False, id="run-bar")
        yield Static("", id="run-counts")
        yield Static("", id="run-workers")
        yield Static("", id="run-curve")
        yield Charts(id="charts")
        yield RichLog(id="run-log", wrap=True, max_lines=2000, markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.set_interval(0.25, self.refresh_view)
        self.refresh_view()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_chart":  # only where one chart is shown at a time, or a curve in their place
            return self.has_class("-narrow") or self._curve_instead()
        return True

    def _curve_instead(self) -> bool:
        """A short screen with a live curve: the curve and the charts take turns (``v``)."""
        return self.has_class("-short") and self.app.live_curves.latest is not None

    def action_next_chart(self) -> None:
        """The next chart; below 30 rows, after the last chart the live curve, then the first chart."""
        charts = self.query_one(Charts)
        if self._curve_instead():
            if self.curve_first:
                self.curve_first = False
                return
            if not self.has_class("-narrow") or charts.current == len(CHARTS) - 1:
                self.curve_first = True
                if self.has_class("-narrow"):
                    charts.next_chart()  # back to the first chart after the curve
                self._show_curve()
                return
        charts.next_chart()
        self._show_curve()

    def on_resize(self) -> None:
        self.refresh_bindings()

    def is_settled(self) -> bool:
        """The log, the numbers and the charts show the App's current state."""
        app = self.app
        return (self._chart_key == (app.table_version, app.chart_metric, self.size)
                and self._curve_key == self._curve_state()
                and self._log_pos == app.log_dropped + len(app.log_lines))

    def refresh_view(self) -> None:
        """Pull progress, log lines and (when changed) chart data from the App."""
        if not self.is_attached:
            return
        app = self.app
        p = app.progress
        where = f" -> {app.db_path}" if app.db_path else ""
        rate = p.rate
        eta = fmt_duration(p.eta) if rate and p.state in ("running", "following") else "-"
        lines = [
            Text.assemble((f"run {p.run_id or '-'}", "bold"), f"  {p.device}{where}"),
            Text.assemble((p.state, _STATE_STYLE.get(p.state, "")),
                          f"   {format_value(p.done)}/{format_value(p.total)} evaluations"
                          + (f", {format_value(p.skipped)} skipped" if p.skipped else "") +
                          f"   rate {f'{rate:.2f}/s' if rate else '-'}   ETA {eta}"),
            Text("   ".join(([ev.stage_line(p.stages)] if len(p.stages) > 1 else [p.stage] if p.stage else [])
                           + ([f"now: {self._now(p.current)}"] if p.state == "running" and p.current else [])),
                 style="dim"),
        ]
        for line in lines:  # one line each, cut with an ellipsis rather than wrapped
            line.no_wrap, line.overflow = True, "ellipsis"
        self.query_one("#run-title", Static).update(Text("\n").join(lines))
        bar = self.query_one("#run-bar", ProgressBar)
        bar.update(total=(p.total - p.skipped) or None, progress=p.done)
        counts = Text()
        for status, n in p.status_counts().items():
            style = {"failed": "red", "invalid": "red", "screened": "yellow", "skipped": "dim",
                     "done": "green"}.get(status, "")
            counts.append(f"{status} ", style=style)
            counts.append(f"{format_value(n)}   ", style="bold")
        if app.chart_metric:
            counts.append(f"chart: {column_label(app.table, app.chart_metric)} (m on F4)", style="dim")
        counts.no_wrap, counts.overflow = True, "ellipsis"
        self.query_one("#run-counts", Static).update(counts)
        self._show_workers(p.workers)
        self._show_curve()
        self._write_log()
        key = (app.table_version, app.chart_metric, self.size)
        if key != self._chart_key:
            self._chart_key = key
            self.query_one(Charts).update_data(app.table, app.chart_metric)

    def _now(self, current: str) -> str:
        """``arch / evaluator`` at the title's width, the id cut in its middle: the evaluator stays."""
        arch, sep, evaluator = current.rpartition(" / ")
        room = max(12, self.size.width - 2 - len("now: ") - len(sep + evaluator))
        return cut_middle(arch, room) + sep + evaluator if sep else current

    def _show_workers(self, workers: tuple) -> None:
        """One line per worker of a distributed run (which, where, on what device, running what);
        hidden in-process."""
        box = self.query_one("#run-workers", Static)
        box.display = bool(workers)
        if not workers:
            return
        lines = []
        for w in workers:
            style = {"lost": "red", "failed": "red", "starting": "yellow"}.get(w.state, "")
            doing = w.running or ("idle" if w.state == "ready" else w.state)
            line = Text.assemble((f"{w.name:<4}", "bold"), f" {w.node or '?'} {w.device or ''}  ",
                                 (f"{w.done} done  ", "dim"), (doing, style))
            line.no_wrap, line.overflow = True, "ellipsis"
            lines.append(line)
        box.update(Text("\n").join(lines))

    def _curve_state(self) -> tuple:
        return (self.app.live_curves.version, self.size, self.has_class("-short"), self.curve_first)

    def _show_curve(self) -> None:
        """The learning curve that grew last in this app's run (replotted only when it changed).
        Below 30 rows it takes the charts' place (``v`` shows the charts instead): beside them
        it pushed the charts and the log off an 80x24 screen."""
        live = self.app.live_curves
        key = self._curve_state()
        if key == self._curve_key:
            return
        self._curve_key = key
        box = self.query_one("#run-curve", Static)
        instead = self._curve_instead()
        box.display = live.latest is not None and (self.curve_first or not instead)
        self.query_one(Charts).display = not (instead and box.display)
        self.refresh_bindings()
        if not box.display or live.latest is None:
            return
        arch, evaluator = live.latest
        height = max(8, self.size.height - FIXED_ROWS) if instead else CURVE_HEIGHT
        width = max(40, self.size.width - 2)  # the box's padding
        text = curve_text(f"{arch} / {evaluator}", live.curves[live.latest], width, height)
        text.no_wrap, text.overflow = True, "crop"
        box.update(text)

    def _write_log(self) -> None:
        app = self.app
        log = self.query_one("#run-log", RichLog)
        start = max(0, self._log_pos - app.log_dropped)
        for level, message in app.log_lines[start:]:
            log.write(Text.assemble((f"[{level}] ", _LEVEL_STYLE.get(level, "")), message))
        self._log_pos = app.log_dropped + len(app.log_lines)
