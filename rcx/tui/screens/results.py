"""The Results screen: every evaluation in a sortable, filterable table.

Sort with ``s`` (pick a column), ``r`` (reverse) or a header click; filter with ``/`` (words in
the architecture id and ``COLUMN OP VALUE`` ranges); ``m`` chooses the charts' metric; ``e``
writes the visible rows to CSV; enter opens an architecture's detail.

The views live in a ContentSwitcher: issue 5 (correlations) adds its view there next to
``#view-table``, with a binding to switch to it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Input, Static

from rcx.tui.screens.dialogs import PickScreen
from rcx.tui.state import FilterError, RowFilter
from rcx.tui.widgets.results_grid import ResultsGrid


class ResultsScreen(Screen):
    """Browse the results of the current results file."""

    BINDINGS = [
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("m", "pick_metric", "Chart metric"),
        Binding("e", "export", "Export CSV"),
        Binding("enter", "detail", "Detail", show=False),
        Binding("escape", "focus_table", "Table", show=False),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._version = -1
        self._filter_timer: Timer | None = None
        self._filter_error = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="results-bar"):
            yield Input(placeholder="filter, e.g.  k7 val_acc>=0.3 flops<2e6   (/ to focus, escape to leave)",
                        id="filter", compact=True)
        with ContentSwitcher(initial="view-table", id="views"):
            yield ResultsGrid(id="view-table")
        yield Static("", id="results-status")
        yield Footer()

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
            self._status()
            return
        if app.table_version != self._version:
            changed = app.changes_since(self._version) if self._version >= 0 else None
            self._version = app.table_version
            self.grid.show(app.table, changed)
            self._status()

    def _status(self) -> None:
        app, grid = self.app, self.grid
        if app.table is None:
            msg = f"no results yet ({app.db_path})" if app.db_path else "no results file: run a plan (F2) or open one with `rcx RESULTS.db`"
            self.query_one("#results-status", Static).update(msg)
            return
        text = Text(f"{grid.row_count:,} of {len(app.table.rows):,} rows")
        if grid.sort_column:
            text.append(f"  sorted by {grid.sort_column} {'desc' if grid.descending else 'asc'}")
        if app.chart_metric:
            text.append(f"  charts: {app.chart_metric}")
        text.append(f"  {app.db_path}", style="dim")
        if self._filter_error:
            text.append(f"\n{self._filter_error}", style="red")
        self.query_one("#results-status", Static).update(text)

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
        self._status()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.grid.focus()

    # -- sorting --------------------------------------------------------------------------
    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.grid.sort_by(str(event.column_key.value))
        self._status()

    def action_sort(self) -> None:
        grid = self.grid
        if not grid.view_cols:
            return

        def chosen(column: str | None) -> None:
            if column:
                grid.sort_by(column)
                self._status()

        self.app.push_screen(PickScreen("Sort by (again on the same column: reverse)", [(c, c) for c in grid.view_cols],
                                        grid.sort_column), chosen)

    def action_reverse(self) -> None:
        if self.grid.sort_column:
            self.grid.sort_by(self.grid.sort_column)
            self._status()

    # -- charts' metric, export, detail -----------------------------------------------------
    def action_pick_metric(self) -> None:
        table = self.app.table
        if table is None:
            return
        metrics = [c for c in table.metric_columns() if c in table.columns]

        def chosen(metric: str | None) -> None:
            if metric:
                self.app.chart_metric = metric
                self._status()

        self.app.push_screen(PickScreen("Metric for the charts", [(m, m) for m in metrics], self.app.chart_metric), chosen)

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

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_detail(str(event.row_key.value))

    def action_detail(self) -> None:
        arch = self.grid.selected_arch()
        if arch:
            self.app.open_detail(arch)
