"""The TUI's Results screen with 30,000 results: load, refresh, keys (issue 3's quality bar).

One app, headless (Textual's ``run_test``) at 120x40, on a synthetic results file of 30,000
``ksd`` architectures scored by two evaluators, the last 100 candidates still pending:

- **initial load**: until the table holds every row, and the worst event-loop stall meanwhile
  (a key pressed then waits that long);
- **refresh**: the 100 pending rows finish; the App's reload finds them and the table updates
  only their changed cells. Reference procedure, same process and table: a full rebuild of the
  table (what a DataTable without keyed rows does), so the ratio says what the cell-by-cell
  update saves;
- **keys**: the latency from a key press to the end of its action while a reload reads the
  30,000 rows in a worker, for a reverse sort (a full reorder), and while the correlation of
  30,000 rows is computed in a worker.

Targets (issue 3, on a quiet machine): refresh within one 4-per-second redraw (250 ms), keys
within 100 ms, no stall over 200 ms while loading. The tests (``tests/tui/test_perf.py``) check
the same path for correctness only.

    python benchmarks/tui_results.py [--rows 30000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' results-file generator

from rcx.plugins import get_registry  # noqa: E402
from rcx.tui.app import RcxApp  # noqa: E402
from rcx.tui.screens.dialogs import PickScreen  # noqa: E402
from rcx.tui.widgets.results_grid import ResultsGrid  # noqa: E402
from tests.tui.conftest import finish_pending, synthetic_results  # noqa: E402

PENDING = 100


async def until(condition, what: str, limit: float = 600.0) -> None:
    t0 = time.perf_counter()
    while not condition():
        if time.perf_counter() - t0 > limit:
            raise SystemExit(f"benchmark: no {what} after {limit:.0f} s")
        await asyncio.sleep(0.005)


async def key_latency(pilot, key: str, owner, action: str) -> float:
    """Seconds from pressing ``key`` to the end of ``owner.action_<action>``."""
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
    return done[0] - t


async def measure(path: Path, n: int) -> dict[str, float]:
    app = RcxApp(get_registry(), db_path=path)
    times: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.screen.query_one(ResultsGrid)
        t0, gaps = time.perf_counter(), []
        while grid.row_count < n or grid.loading:  # not pilot.pause: it would wait for every chunk
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            if grid.row_count:
                gaps.append(time.perf_counter() - t)
        times["initial load"] = time.perf_counter() - t0
        times["worst loop stall while loading"] = max(gaps)

        pending = [r["arch"] for r in app.table.rows if r["ridge_a.status"] is None]
        shows: list[float] = []
        show = grid.show

        def timed_show(table, changed=None):
            t = time.perf_counter()
            show(table, changed)
            shows.append(time.perf_counter() - t)

        grid.show = timed_show
        version = app.table_version
        finish_pending(path, pending)
        await until(lambda: app._reload_busy, "reload")
        times["key while reloading (down)"] = await key_latency(pilot, "down", grid, "cursor_down")
        await until(lambda: shows and app.table_version > version, "refresh")
        times[f"refresh ({len(pending)} changed rows)"] = shows[-1]

        t = time.perf_counter()  # the reference: rebuild every row of the same table
        show(app.table, None)
        await until(lambda: not grid.loading, "rebuild")
        times["reference: full rebuild"] = time.perf_counter() - t

        times["reverse sort (r)"] = await key_latency(pilot, "r", app.screen, "reverse")
        times["open sort picker (s)"] = await key_latency(pilot, "s", app.screen, "sort")
        assert isinstance(app.screen, PickScreen)
        await pilot.press("escape")
        app.screen.show_correlation()
        await asyncio.sleep(0.1)  # the worker has started on 30,000 rows
        times["key while correlating (y)"] = await key_latency(pilot, "y", app.screen, "pick_y")
        await pilot.press("escape")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=30_000)
    args = parser.parse_args()
    registry = get_registry()
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic_results(Path(tmp) / "big.db", registry, n=args.rows, done=args.rows - PENDING)
        times = asyncio.run(measure(path, args.rows))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.1f}; python {platform.python_version()}; {args.rows:,} rows")
    for name, seconds in times.items():
        print(f"{name:>36}: {seconds * 1000:9.1f} ms")
    refresh = next(v for k, v in times.items() if k.startswith("refresh"))
    print(f"{'full rebuild / refresh':>36}: {times['reference: full rebuild'] / refresh:9.0f}x")


if __name__ == "__main__":
    main()
