"""Issue 3's quality bar with 30,000 results: keyed rows updated cell by cell, decimated charts,
keys that answer while the app is busy. Prints the measured times (``pytest -s``)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from rcx.core.store import Store
from rcx.tui.app import RcxApp
from rcx.tui.screens.dialogs import PickScreen
from rcx.tui.state import MAX_POINTS, best_so_far, fmt_value, scatter_series, x_column
from rcx.tui.widgets.corr_view import CorrView
from rcx.tui.widgets.results_grid import ResultsGrid

from .conftest import synthetic_results, sync, wait_for

N, PENDING = 30_000, 100
# Timings on shared CI boxes are noisy: by default the budgets get 4x slack, which still
# catches the failures that matter (a 2.5 s stall, a 14 s blocking load); RCX_PERF_SLACK=1
# checks the targets themselves on a quiet machine.
SLACK = float(os.environ.get("RCX_PERF_SLACK", "4"))
REFRESH_BUDGET = 0.25 * SLACK  # one 4-per-second redraw
KEY_BUDGET = 0.1 * SLACK
LOAD_STALL_BUDGET = 0.2 * SLACK  # one chunk of rows or one repaint of a 26-column table (~120 ms on the 2-core test box)


def _finish_pending(path, archs: list[str]) -> None:
    """What a run does next: the last candidates' evaluations finish."""
    store = Store.open(path)
    try:
        run = store.run()
        for i, arch in enumerate(archs):
            for inst in ("ridge_a", "ridge_b"):
                store.finish_evaluation(run.id, arch, inst, "done", seed=i, seconds=0.1,
                                        metrics={"val_acc": 0.2 + i / 1000, "val_acc_std": 0.01, "throughput": 50.0})
        store.set_run_state(run.id, "finished")
    finally:
        store.close()


async def _key(pilot, key: str, owner, action: str) -> tuple[float, float]:
    """Press ``key``; return (seconds until ``owner.action_<action>`` finished, seconds the
    press took in all). Pilot's press also waits for the whole process to go quiet, worker
    threads included, so only the first number is the key's latency."""
    done: list[float] = []
    original = getattr(owner, f"action_{action}")

    def timed(*args):
        result = original(*args)
        done.append(time.perf_counter())
        return result

    setattr(owner, f"action_{action}", timed)
    t = time.perf_counter()
    try:
        await pilot.press(key)
    finally:
        delattr(owner, f"action_{action}")
    assert done, f"{key} did not reach action_{action}"
    return done[0] - t, time.perf_counter() - t


@pytest.mark.slow
@sync
async def test_30000_results_update_only_changed_cells_and_keys_answer(tmp_path, registry):
    path = synthetic_results(tmp_path / "big.db", registry, n=N, done=N - PENDING)
    app = RcxApp(registry, db_path=path)
    times: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        t0 = time.perf_counter()
        grid = app.screen.query_one(ResultsGrid)
        gaps: list[float] = []  # event-loop stalls while the rows are added: the worst wait of a key
        while grid.row_count < N and time.perf_counter() - t0 < 120:  # not pilot.pause: it waits for every chunk
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            if grid.row_count:
                gaps.append(time.perf_counter() - t)
        times["worst loop stall while loading"] = max(gaps)
        assert len(gaps) > 10 and max(gaps) < LOAD_STALL_BUDGET, (times, sorted(gaps)[-5:])
        await wait_for(pilot, lambda: grid.row_count == N, timeout=120, what="30,000 rows")
        assert not grid.loading
        times["initial load"] = time.perf_counter() - t0

        # -- one refresh cycle with PENDING changed rows: only their changed cells are written
        pending = [r for r in app.table.rows if r["ridge_a.status"] is None]
        assert len(pending) == PENDING
        before = {r["arch"]: r for r in pending}
        calls: list[tuple[str, str]] = []
        rebuilds: list[int] = []
        shows: list[float] = []
        update_cell, rebuild, show = grid.update_cell, grid._rebuild, grid.show

        def counting_update_cell(row_key, column_key, value, **kwargs):
            calls.append((str(row_key), str(column_key)))
            return update_cell(row_key, column_key, value, **kwargs)

        def counting_rebuild(cols):
            rebuilds.append(1)
            return rebuild(cols)

        def timed_show(table, changed=None):
            t = time.perf_counter()
            show(table, changed)
            shows.append(time.perf_counter() - t)

        grid.update_cell, grid._rebuild, grid.show = counting_update_cell, counting_rebuild, timed_show
        version = app.table_version
        _finish_pending(path, list(before))
        await wait_for(pilot, lambda: app._reload_busy, timeout=10, what="the reload to start")
        latency, _ = await _key(pilot, "down", grid, "cursor_down")  # while the worker reads 30,000 rows
        times["key while reloading (down)"] = latency
        assert latency < KEY_BUDGET, times
        await wait_for(pilot, lambda: shows and app.table_version > version, timeout=60, what="the refresh")
        assert app.changes[-1][1] == set(before)  # the app's own changed-row detection
        assert not rebuilds
        after = {r["arch"]: r for r in app.table.rows if r["arch"] in before}
        expected = {(a, c) for a in before for c in grid.view_cols if before[a].get(c) != after[a].get(c)}
        assert set(calls) == expected and len(calls) == len(expected)
        assert all(grid.get_cell(a, c) == fmt_value(after[a].get(c)) for a, c in expected)
        assert grid.row_count == N
        times["refresh (100 rows)"] = shows[-1]
        assert shows[-1] < REFRESH_BUDGET, times
        assert app.changes[-1][1] is not None and len(app.changes[-1][1]) == PENDING

        # -- keys: reverse the sort (a full reorder of 30,000 rows) and open the sort picker
        first = grid.visible_rows()[0]["arch"]
        times["reverse sort (r)"], times["reverse sort + repaint"] = await _key(pilot, "r", app.screen, "reverse")
        assert grid.visible_rows()[0]["arch"] != first and times["reverse sort (r)"] < REFRESH_BUDGET, times
        times["open sort picker (s)"], _ = await _key(pilot, "s", app.screen, "sort")
        assert isinstance(app.screen, PickScreen)
        await pilot.press("escape")

        # -- a key while the correlation of 30,000 rows is computed in a worker
        app.screen.show_correlation()  # not pilot.press: it would wait for the worker to finish
        view = app.screen.query_one(CorrView)
        await pilot.pause(0.1)  # the user reads the new view for a moment (shown; the worker is still busy)
        correlating = view.report is None
        times["key while correlating (y)"], _ = await _key(pilot, "y", app.screen, "pick_y")
        assert isinstance(app.screen, PickScreen)
        assert times["key while correlating (y)"] < KEY_BUDGET, times
        await pilot.press("escape")
        await wait_for(pilot, lambda: view.report is not None, timeout=60, what="the correlation")
        assert view.report.n_usable > MAX_POINTS and 0 < view.points <= MAX_POINTS

        # -- the charts' series stay decimated
        metric = app.chart_metric
        series = scatter_series(app.table.rows, x_column(app.table, metric), metric)
        assert 0 < sum(len(xs) for _, xs, _ in series) <= MAX_POINTS
        assert 0 < len(best_so_far(app.table.rows, metric, True)[0]) <= MAX_POINTS

    print("\n" + "\n".join(f"{k:>28}: {v * 1000:8.1f} ms" for k, v in times.items())
          + f"\n  (y pressed while the correlation was computed: {correlating})")
