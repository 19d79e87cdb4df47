"""The results table: one keyed row per architecture, updated cell by cell.

A reload of the store gives the set of rows that changed; only their cells are updated (or
their rows added/removed by the filter), so a table of 30,000 rows stays still while a run
writes it; a full rebuild adds its rows in chunks so keys are answered meanwhile. Sorting
uses :meth:`ResultsTable.sorted` (missing values last, best first by the metric's declared
direction); an explicit sort shows the top of the list, a live update keeps the view still.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey, default_cell_formatter, measure

from rcx.core.results import PENDING, ResultsTable
from rcx.termtable import format_value
from rcx.tui.state import RowFilter, cut_middle, view_columns

CHUNK = 500
"""Rows a rebuild adds per event-loop turn (about 25 ms on one core of the 2-core test machine)."""
ID_WIDTH = 32
"""Characters an architecture id takes in the table at most: a longer one (a NAS-Bench-201 cell
is 80-odd) is cut in its middle; the Detail view (enter) shows it whole."""


class IdCell(str):
    """An architecture id as the table shows it (``full`` cut to :data:`ID_WIDTH`), carrying
    the ``full`` id for sorting."""

    full: str

    def __new__(cls, full: str) -> IdCell:
        cell = super().__new__(cls, cut_middle(full, ID_WIDTH))
        cell.full = full
        return cell


def cell_text(column: str, value: Any, unit: str | None = None) -> str:
    """The text of one cell: the id shortened (:class:`IdCell`), a missing status as
    :data:`PENDING`, anything else by :func:`~rcx.termtable.format_value` (at the column's
    declared ``unit``)."""
    if column == "arch":
        return IdCell(str(value))
    if value is None and column.endswith(".status"):
        return PENDING
    return format_value(value, unit)


class ResultsGrid(DataTable):
    """A DataTable over a :class:`ResultsTable`, keyed by architecture id."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.table: ResultsTable | None = None
        self.view_cols: list[str] = []
        self.row_filter = RowFilter()
        self.sort_column: str | None = None
        self.descending = False
        self._shown: dict[str, dict[str, Any]] = {}  # arch -> the raw row behind its cells
        self._generation = 0  # rebuilds so far: rows still to add for an older one are dropped
        self.loading = False  # a rebuild is still adding rows

    # -- data -----------------------------------------------------------------------------
    def show(self, table: ResultsTable, changed: set[str] | None = None) -> None:
        """Show ``table``; ``changed`` lists the architectures whose rows changed since the last
        call (None: rebuild everything)."""
        rank = self.row_filter.rank
        if rank and rank not in table.columns:  # a new table from the store: add the rank average again
            try:
                table.resolve(rank)
            except KeyError:
                pass
        if self.sort_column is None:
            self.sort_column = table.default_sort()
            self.descending = table.higher_is_better.get(self.sort_column, False) if self.sort_column else False
        cols = view_columns(table)
        self.table = table
        if self.row_filter.pareto:
            refreshed = self.row_filter.refreshed(table)
            if refreshed.front != self.row_filter.front:  # a new point moved the front: show it anew
                self.row_filter, changed = refreshed, None
        if changed is None or cols != self.view_cols or self.loading:
            self._rebuild(cols)
            return
        by_arch = {r["arch"]: r for r in table.rows} if changed else {}
        touched = False
        for arch in changed:
            row = by_arch.get(arch)
            keep = row is not None and self.row_filter(row)
            if arch in self._shown:
                if row is None or not keep:
                    self.remove_row(arch)
                    del self._shown[arch]
                else:
                    old = self._shown[arch]
                    for c in cols:
                        if old.get(c) != row.get(c):
                            self.update_cell(arch, c, cell_text(c, row.get(c), table.units.get(c)))
                    self._shown[arch] = row
                touched = True
            elif row is not None and keep:
                self.add_row(*(cell_text(c, row.get(c), table.units.get(c)) for c in cols), key=arch)
                self._shown[arch] = row
                touched = True
        if touched and self.sort_column:
            self._apply_sort()

    def _rebuild(self, cols: list[str], keep_cursor: bool = True) -> None:
        """Clear and add every row again (in chunks); ``keep_cursor`` puts the cursor back on its
        architecture once they are all there."""
        assert self.table is not None
        keep_key = self._cursor_key() if keep_cursor else None
        self.clear(columns=True)
        self.view_cols = cols
        for c in cols:
            self.add_column(self._label(c), key=c)
        rows = [r for r in self._ordered() if self.row_filter(r)]
        self._shown = {r["arch"]: r for r in rows}
        self._generation += 1
        self.loading = True
        self._add_rows(rows, 0, keep_key, self._generation)

    def _add_rows(self, rows: list[dict[str, Any]], start: int, keep_key: str | None, generation: int) -> None:
        """Add ``rows[start:start + CHUNK]``, then the next chunk once the event loop has had a
        turn (keys first): 30,000 rows in one go would hold the event loop for seconds."""
        if generation != self._generation:
            return
        cols = self.view_cols
        units = self.table.units if self.table is not None else {}
        for r in rows[start:start + CHUNK]:
            self.add_row(*(cell_text(c, r.get(c), units.get(c)) for c in cols), key=r["arch"])
        if start + CHUNK < len(rows):
            # a timer, not call_later: a queued callback runs before the loop turns to the keys
            self.set_timer(0.001, partial(self._add_rows, rows, start + CHUNK, keep_key, generation))
            return
        self.loading = False
        self._restore_cursor(keep_key)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Column widths from the new rows' cell text, then DataTable's own size update.

        DataTable measures every new cell as a Rich renderable on the event loop (about 10 s
        for 30,000 rows x 26 columns); this table's cells are one-line plain strings
        (:func:`cell_text`), so their width is their ``cell_len``. Relies on DataTable
        internals (``_data``, ``ordered_columns``); Textual is pinned exactly in pyproject.
        """
        columns = self.ordered_columns
        widths = [c.content_width for c in columns]
        data = self._data
        for row_key in new_rows:
            cells = data.get(row_key)
            if cells is None:  # removed before the idle pass
                continue
            for i, c in enumerate(columns):
                value = cells.get(c.key)
                if value is not None:
                    if isinstance(value, str) and "[" not in value:  # no markup: width is the text's
                        n = cell_len(value)
                    else:
                        n = measure(self.app.console, default_cell_formatter(value), 1)
                    if n > widths[i]:
                        widths[i] = n
        for c, w in zip(columns, widths):
            c.content_width = w
        super()._update_dimensions(())

    def _label(self, column: str) -> Text:
        short = column.rpartition(".")[2] if self.table and len(self.table.evaluators) == 1 else column
        if column == self.sort_column:
            return Text(f"{short} {'▼' if self.descending else '▲'}", style="bold")
        return Text(f"{short}  ")  # room for the arrow: a label change does not widen its column

    def _ordered(self) -> list[dict[str, Any]]:
        assert self.table is not None
        table = self.table
        sort = self.sort_column
        if (table.stage_by and sort == table.default_sort()
                and self.descending == (sort is not None and table.higher_is_better.get(sort, False))):
            return table.funnel_order()  # a funnel's default: by stage reached, then the score that decided
        if self.sort_column and self.sort_column in table.columns:
            return table.sorted(self.sort_column, self.descending)
        return self.table.rows

    # -- sorting and filtering ------------------------------------------------------------
    def sort_by(self, column: str) -> None:
        """Sort by ``column``: best first on the first press, then toggle the direction."""
        if self.table is None:
            return
        if column == self.sort_column:
            self.descending = not self.descending
        else:
            self.sort_column = column
            self.descending = self.table.higher_is_better.get(column, False)
        if self.loading:  # rows still to come: add them all in the new order
            self._rebuild(self.view_cols, keep_cursor=False)
        else:
            for c in self.view_cols:
                self.columns[c].label = self._label(c)  # type: ignore[index]
            self._apply_sort()
        self.move_cursor(row=0, column=self.cursor_column, animate=False, scroll=False)
        self.scroll_to(y=0, animate=False, immediate=True)  # a sort shows the top of the list

    def _apply_sort(self) -> None:
        """Reorder the rows; the cursor stays at its position, so live updates do not move the view."""
        order = {r["arch"]: i for i, r in enumerate(self._ordered())}
        self.sort(self.view_cols[0], key=lambda cell: order.get(getattr(cell, "full", cell), len(order)))

    def set_filter(self, row_filter: RowFilter) -> None:
        self.row_filter = row_filter
        if self.table is not None:
            self._rebuild(view_columns(self.table))  # with a rank average the filter added

    def visible_rows(self) -> list[dict[str, Any]]:
        """The raw rows shown, in the displayed order."""
        return [self._shown[str(row_key.value)] for row_key in self._row_order()]

    def _row_order(self) -> list:
        if not self.view_cols:
            return []
        return [self.coordinate_to_cell_key(Coordinate(i, 0)).row_key for i in range(self.row_count)]

    # -- cursor ---------------------------------------------------------------------------
    def _cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:  # no valid cursor
            return None

    def _restore_cursor(self, key: str | None) -> None:
        if key is not None and key in self._shown:
            self.move_cursor(row=self.get_row_index(key), animate=False, scroll=True)

    def selected_arch(self) -> str | None:
        return self._cursor_key()
