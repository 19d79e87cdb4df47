"""The Results grid's ``pareto:`` filter follows a table that changes under it (Pilot)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from rcx.core.results import ResultsTable
from rcx.tui.state import RowFilter
from rcx.tui.widgets.results_grid import ResultsGrid

from .conftest import sync, wait_for


def _table(rows) -> ResultsTable:
    return ResultsTable(["arch", "flops", "e.status", "e.score"], rows, {"e.score": True}, ["e"], {"e": ("score",)})


class GridApp(App):
    def compose(self) -> ComposeResult:
        yield ResultsGrid()


@sync
async def test_the_front_is_recomputed_when_a_new_result_moves_it():
    rows = [{"arch": a, "e.score": s, "e.status": "done", "flops": f}
            for a, s, f in [("a", 3.0, 30), ("b", 2.0, 10), ("c", 1.0, 20)]]
    table = _table(rows)
    app = GridApp()
    async with app.run_test(size=(100, 20)) as pilot:
        grid = app.query_one(ResultsGrid)
        grid.show(table)
        grid.set_filter(RowFilter.parse("pareto:score,flops", table))
        await wait_for(pilot, lambda: not grid.loading and {r["arch"] for r in grid.visible_rows()} == {"a", "b"},
                       what="the front a, b")
        grown = _table([*rows, {"arch": "d", "e.score": 4.0, "e.status": "done", "flops": 5}])
        grid.show(grown, changed={"d"})
        await wait_for(pilot, lambda: not grid.loading and [r["arch"] for r in grid.visible_rows()] == ["d"],
                       what="d alone on the front")
