"""Issue 3's quality bar with 30,000 results, for correctness: rows added in chunks (the event
loop gets turns meanwhile), keyed rows updated cell by cell, keys that reach their actions while
workers read the file or correlate, decimated charts. How fast: ``benchmarks/tui_results.py``
(tests assert no wall-clock bounds: a loaded machine must pass them too)."""

from __future__ import annotations

import asyncio
import time

import pytest

from rcx.termtable import format_value
from rcx.tui.app import RcxApp
from rcx.tui.screens.dialogs import PickScreen
from rcx.tui.state import MAX_POINTS, best_so_far, scatter_series, x_column
from rcx.tui.widgets.corr_view import CorrView
from rcx.tui.widgets.results_grid import ResultsGrid

from .conftest import HANG_GUARD, finish_pending, sync, synthetic_results, wait_for

N, PENDING = 30_000, 100


async def _press_reaches(pilot, key: str, owner, action: str) -> None:
    """Press ``key`` and check that it ran ``owner.action_<action>``."""
    ran: list[bool] = []
    original = getattr(owner, f"action_{action}")

    def counted(*args):
        ran.append(True)
        return original(*args)

    setattr(owner, f"action_{action}", counted)
    try:
        await pilot.press(key)
    finally:
        delattr(owner, f"action_{action}")
    assert ran, f"{key} did not reach action_{action}"


@pytest.mark.slow
@sync
async def test_30000_results_update_only_changed_cells_and_keys_answer(tmp_path, registry):
    path = synthetic_results(tmp_path / "big.db", registry, n=N, done=N - PENDING)
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.screen.query_one(ResultsGrid)
        partial: set[int] = set()  # row counts this coroutine saw mid-load: the loop turned between chunks
        t0 = time.monotonic()
        while grid.row_count < N or grid.loading:  # not pilot.pause: it would wait for every chunk
            assert time.monotonic() - t0 < HANG_GUARD, "the table never finished loading"
            if grid.loading:
                partial.add(grid.row_count)
            await asyncio.sleep(0.001)
        assert len(partial - {0}) >= 2 and grid.row_count == N

        # -- one refresh cycle with PENDING changed rows: only their changed cells are written
        pending = [r for r in app.table.rows if r["ridge_a.status"] is None]
        assert len(pending) == PENDING
        before = {r["arch"]: r for r in pending}
        calls: list[tuple[str, str]] = []
        rebuilds: list[int] = []
        shows: list[int] = []
        update_cell, rebuild, show = grid.update_cell, grid._rebuild, grid.show

        def counting_update_cell(row_key, column_key, value, **kwargs):
            calls.append((str(row_key), str(column_key)))
            return update_cell(row_key, column_key, value, **kwargs)

        def counting_rebuild(*args, **kwargs):
            rebuilds.append(1)
            return rebuild(*args, **kwargs)

        def counting_show(table, changed=None):
            show(table, changed)
            shows.append(app.table_version)

        grid.update_cell, grid._rebuild, grid.show = counting_update_cell, counting_rebuild, counting_show
        version = app.table_version
        finish_pending(path, list(before))
        await wait_for(pilot, lambda: app._reload_busy, what="the reload to start")
        await _press_reaches(pilot, "down", grid, "cursor_down")  # while the worker reads 30,000 rows
        await wait_for(pilot, lambda: shows and app.table_version > version, what="the refresh")
        assert app.changes[-1][1] == set(before)  # the app's own changed-row detection
        assert not rebuilds
        after = {r["arch"]: r for r in app.table.rows if r["arch"] in before}
        expected = {(a, c) for a in before for c in grid.view_cols if before[a].get(c) != after[a].get(c)}
        assert set(calls) == expected and len(calls) == len(expected)
        assert all(grid.get_cell(a, c) == format_value(after[a].get(c)) for a, c in expected)
        assert grid.row_count == N

        # -- keys: reverse the sort (a full reorder of 30,000 rows) and open the sort picker
        first = grid.visible_rows()[0]["arch"]
        await _press_reaches(pilot, "r", app.screen, "reverse")
        assert grid.visible_rows()[0]["arch"] != first
        assert grid.visible_rows() == app.table.sorted(grid.sort_column, grid.descending)
        await _press_reaches(pilot, "s", app.screen, "sort")
        assert isinstance(app.screen, PickScreen)
        await pilot.press("escape")

        # -- a key while the correlation of 30,000 rows is computed in a worker
        app.screen.show_correlation()  # not pilot.press: it would wait for the worker to finish
        view = app.screen.query_one(CorrView)
        await _press_reaches(pilot, "y", app.screen, "pick_y")
        assert isinstance(app.screen, PickScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: view.report is not None, what="the correlation")
        assert view.report.n_usable > MAX_POINTS and 0 < view.points <= MAX_POINTS

        # -- the charts' series stay decimated
        metric = app.chart_metric
        series = scatter_series(app.table.rows, x_column(app.table, metric), metric)
        assert 0 < sum(len(xs) for _, xs, _ in series) <= MAX_POINTS
        assert 0 < len(best_so_far(app.table.rows, metric, True)[0]) <= MAX_POINTS
