"""The Results screen: every evaluation in a sortable, filterable table.

Sort with ``s`` (pick a column, or several for their rank average), ``r`` (reverse) or a header
click; filter with ``/`` (words in the architecture id and ``COLUMN OP VALUE`` ranges;
``rank:a.score,b.score,flops`` sorts by the rank average of those columns, as ``s`` writes it);
``m`` chooses the charts' metric among the scores; ``e`` writes the visible rows to CSV; enter
opens an architecture's detail.

The views live in a ContentSwitcher: ``c`` switches between the table (``#view-table``) and the
Correlation view (``#view-corr``, issue 5), where ``x``, ``y`` and ``b`` pick the columns and the
grouping; its report is computed by an App worker whenever the table or the choice changes.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Header, Input, Static

from rcx.tui.correlation import CorrRequest, default_request, group_columns, numeric_columns
from rcx.tui.screens.dialogs import MultiPickScreen, PickScreen
from rcx.tui.state import FilterError, RowFilter
from rcx.tui.widgets.corr_view import CorrComputed, CorrView
from rcx.tui.widgets.footer import KeyFooter
from rcx.tui.widgets.results_grid import ResultsGrid

if TYPE_CHECKING:
    from textual import getters

    from rcx.tui.app import RcxApp

TABLE_ONLY = {"sort", "reverse", "focus_filter", "export", "pick_metric"}
CORR_ONLY = {"pick_x", "pick_y", "pick_by"}
NO_GROUP = "(none)"
RANK_CHOICE = "rank:"  # the sort picker's entry that asks for several columns
SORT_KEYS = Binding.Group("Sort")
AXIS_KEYS = Binding.Group("Axes")


class ResultsScreen(Screen):
    """Browse the results of the current results file."""

    if TYPE_CHECKING:  # typed: the screen runs in rcx's app, whose state it reads
        app = getters.app(RcxApp)

    # The footer fits 80 columns: s/r and x/y share a label; m and e are listed by F1 and the palette.
    BINDINGS = [
        Binding("s", "sort", "Sort", group=SORT_KEYS),
        Binding("r", "reverse", "Reverse", group=SORT_KEYS),
        Binding("slash", "focus_filter", "Filter"),
        Binding("m", "pick_metric", "Chart metric", show=False),
        Binding("e", "export", "Export CSV", show=False),
        Binding("c", "correlation", "Correlation"),
        Binding("x", "pick_x", "x column", group=AXIS_KEYS),
        Binding("y", "pick_y", "y column", group=AXIS_KEYS),
        Binding("b", "pick_by", "Group by"),
        Binding("enter", "detail", "Detail", show=False),
        Binding("escape", "leave", "Table", show=False),
        Binding("q", "app.quit", "Quit", show=False),
    ]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # a shorter correlation table below 30 rows

    def __init__(self) -> None:
        super().__init__()
        self._version = -1
        self._filter_timer: Timer | None = None
        self._filter_error = ""
        self.corr_request: CorrRequest | None = None
        self._corr_busy = False
        self._corr_done: tuple[CorrRequest, int] | None = None  # what the view shows
        self._status_rows = -1  # the row count the status line shows

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="results-bar"):
            yield Input(placeholder="filter, e.g.  k7 val_acc>=0.3 flops<2e6   (/ to focus, escape to leave)",
                        id="filter", compact=True)
        with ContentSwitcher(initial="view-table", id="views"):
            yield ResultsGrid(id="view-table")
            yield CorrView(id="view-corr")
        yield Static("", id="results-status")
        yield KeyFooter()

    @property
    def grid(self) -> ResultsGrid:
        return self.query_one(ResultsGrid)

    def on_mount(self) -> None:
        self.set_interval(0.25, self.pull)
        self.pull()
        self.grid.focus()

    def pull(self) -> None:
        """Apply the App's newer results table, updating only the rows that changed."""
        app = self.app
        if app.table is None:
            if self.grid.row_count or self.grid.columns:  # a new file, or one refused as another plan's
                self.grid.clear(columns=True)
                self._version = -1  # the next table is shown whole
            self._status()
            return
        if app.table_version != self._version:
            changed = app.changes_since(self._version) if self._version >= 0 else None
            self._version = app.table_version
            self.grid.show(app.table, changed)
            self._status()
        elif self.grid.row_count != self._status_rows:  # a rebuild added its rows in chunks since
            self._status()
        self._pull_corr()

    def _status(self) -> None:
        app, grid = self.app, self.grid
        if app.table is None:
            msg = (app.follower.note or f"no results yet ({app.db_path})" if app.db_path
                   else "no results file: run a plan (F2) or open one with `rcx RESULTS.db`")
            self.query_one("#results-status", Static).update(msg)
            return
        box = self.query_one("#results-status", Static)
        self._status_rows = grid.row_count
        width = box.content_size.width or max(20, self.size.width - 2)
        for short in (False, True):  # one line: full column names and the file if they fit, else less
            name = (lambda c: c.rpartition(".")[2]) if short else (lambda c: c)
            text = Text(f"{grid.row_count:,} of {len(app.table.rows):,} rows")
            if grid.sort_column:
                text.append(f"  sorted by {name(grid.sort_column)} {'desc' if grid.descending else 'asc'}")
            if app.chart_metric:
                text.append(f"  charts: {name(app.chart_metric)}")
            if text.cell_len <= width:
                break
        if text.cell_len + 2 + len(str(app.db_path)) <= width:  # the file is in the title too
            text.append(f"  {app.db_path}", style="dim")
        text.no_wrap, text.overflow = True, "ellipsis"
        box.update(Group(text, Text(self._filter_error, style="red")) if self._filter_error else text)

    def on_resize(self) -> None:
        self._status()

    def is_settled(self) -> bool:
        """The App's latest table is shown in full, and in the Correlation view its report."""
        app = self.app
        if app.table is not None and (self._version != app.table_version or self.grid.loading
                                      or self._status_rows != self.grid.row_count):
            return False
        if self.showing_corr and app.table is not None and self.corr_request is not None:
            return not self._corr_busy and self._corr_done == (self.corr_request, app.table_version)
        return True

    @property
    def showing_corr(self) -> bool:
        return self.query_one("#views", ContentSwitcher).current == "view-corr"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Table keys in the table view, correlation keys in the Correlation view."""
        if action in TABLE_ONLY:
            return not self.showing_corr
        if action in CORR_ONLY:
            return self.showing_corr
        return True

    # -- correlation view -----------------------------------------------------------------
    def action_correlation(self) -> None:
        """Switch between the table and the Correlation view."""
        self.show_view("view-table" if self.showing_corr else "view-corr")

    def show_correlation(self) -> None:
        self.show_view("view-corr")

    def show_view(self, view: str) -> None:
        self.query_one("#views", ContentSwitcher).current = view
        self.refresh_bindings()
        if view == "view-corr":
            self.query_one("#corr-table").focus()
            self._pull_corr()
        else:
            self.grid.focus()

    def _pull_corr(self) -> None:
        """Ask the App for a new report when the view is shown and the table or the request
        changed since the one displayed (one computation at a time)."""
        app = self.app
        if not self.showing_corr or self._corr_busy:
            return
        view = self.query_one(CorrView)
        if app.table is None:
            view.show_message("no results yet")
            return
        if self.corr_request is None:
            self.corr_request = default_request(app.table, app.chart_metric)
            if self.corr_request is None:
                view.show_message("nothing to correlate: the results hold fewer than two numeric columns", error=True)
                return
        if self._corr_done == (self.corr_request, app.table_version):
            return
        self._corr_busy = True
        app.compute_corr(app.table, self.corr_request, app.table_version, self)

    def on_corr_computed(self, message: CorrComputed) -> None:
        self._corr_busy = False
        self._corr_done = (message.request, message.version)
        view = self.query_one(CorrView)
        if message.request != self.corr_request:  # the choice changed meanwhile
            self._pull_corr()
            return
        if message.report is None:
            view.show_message(message.error, error=True)
        else:
            view.show_report(message.report)
        self._pull_corr()

    def _pick_corr(self, field: str, prompt: str, options: list[str]) -> None:
        request = self.corr_request
        if request is None:
            return
        current = getattr(request, field) or NO_GROUP

        def chosen(value: str | None) -> None:
            if value and self.corr_request is not None:
                value_or_none = None if value == NO_GROUP else value
                change: dict[str, Any] = {field: value_or_none}  # by: None for no grouping
                self.corr_request = replace(self.corr_request, **change)
                self._pull_corr()

        self.app.push_screen(PickScreen(prompt, [(c, c) for c in options], current), chosen)

    def action_pick_x(self) -> None:
        if self.app.table is not None:
            self._pick_corr("x", "Correlation: x column", numeric_columns(self.app.table))

    def action_pick_y(self) -> None:
        if self.app.table is not None:
            self._pick_corr("y", "Correlation: y column", numeric_columns(self.app.table))

    def action_pick_by(self) -> None:
        if self.app.table is not None:
            self._pick_corr("by", "Correlation: group by", [NO_GROUP, *group_columns(self.app.table)])

    # -- filter ---------------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(0.3, self.apply_filter)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.apply_filter()
        self.grid.focus()

    def apply_filter(self) -> None:
        table = self.app.table
        if table is None:
            return
        try:
            row_filter = RowFilter.parse(self.query_one("#filter", Input).value, table)
            self._filter_error = ""
        except FilterError as exc:
            self._filter_error = f"filter: {exc}"
            self._status()
            return
        if row_filter != self.grid.row_filter:
            self.grid.set_filter(row_filter)
            if row_filter.rank and row_filter.rank != self.grid.sort_column:
                self.grid.sort_by(row_filter.rank)
        self._status()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave(self) -> None:
        """Escape: from the Correlation view back to the table; from the filter to the table."""
        if self.showing_corr:
            self.show_view("view-table")
        else:
            self.grid.focus()

    # -- sorting --------------------------------------------------------------------------
    @on(DataTable.HeaderSelected, "#view-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.grid.sort_by(str(event.column_key.value))
        self._status()

    def action_sort(self) -> None:
        grid = self.grid
        if not grid.view_cols:
            return

        def chosen(column: str | None) -> None:
            if column == RANK_CHOICE:
                self.pick_rank_average()
            elif column:
                grid.sort_by(column)
                self._status()

        choices = [(c, c) for c in grid.view_cols]
        if self.app.table is not None and len(self.app.table.score_columns()) >= 2:  # first: end picks the last column
            choices.insert(0, ("rank average of several columns...", RANK_CHOICE))
        self.app.push_screen(PickScreen("Sort by (again on the same column: reverse)", choices, grid.sort_column),
                             chosen)

    def pick_rank_average(self) -> None:
        """Sort by the rank average of the score columns picked (as ``rank:a,b`` in the filter,
        which it writes, so the filter line shows what the table is sorted by)."""
        table = self.app.table
        if table is None:
            return

        def chosen(columns: list[str] | None) -> None:
            if not columns:
                return
            box = self.query_one("#filter", Input)
            rest = [t for t in box.value.split() if not t.lower().startswith("rank:")]
            box.value = " ".join([*rest, f"rank:{','.join(columns)}"])
            self.apply_filter()

        scores = [c for c in table.score_columns() if not c.startswith("rankavg(")]
        self.app.push_screen(MultiPickScreen("Sort by the rank average of (best first):", [(c, c) for c in scores],
                                             least=2), chosen)

    def action_reverse(self) -> None:
        if self.grid.sort_column:
            self.grid.sort_by(self.grid.sort_column)
            self._status()

    # -- charts' metric, export, detail -----------------------------------------------------
    def action_pick_metric(self) -> None:
        table = self.app.table
        if table is None:
            return
        metrics = table.score_columns()  # scores and baselines; descriptions (times, sizes) are not charted

        def chosen(metric: str | None) -> None:
            if metric:
                self.app.chart_metric = metric
                self._status()

        self.app.push_screen(PickScreen("Metric for the charts", [(m, m) for m in metrics], self.app.chart_metric),
                             chosen)

    def action_export(self) -> None:
        app = self.app
        if app.table is None or app.db_path is None:
            self.notify("nothing to export", severity="warning")
            return
        path = Path(app.db_path).with_name(f"{Path(app.db_path).stem}-run{app.run_id}.csv")
        rows = self.grid.visible_rows()
        try:
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=app.table.columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror}", severity="error")
            return
        self.notify(f"wrote {len(rows):,} rows to {path}")

    @on(DataTable.RowSelected, "#view-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_detail(str(event.row_key.value))

    def action_detail(self) -> None:
        arch = self.grid.selected_arch()
        if arch:
            self.app.open_detail(arch)
