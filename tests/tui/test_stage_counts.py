"""The Run screen shows every stage's waiting / running / done / skipped counts and counts skipped
work apart (issues 23, 25); the Results filter's ``rank:`` sorts by a rank average (issue 19); a
plan with stages runs from the Plan screen (its top / by keys are form fields, not text)."""

from __future__ import annotations

from textual.widgets import Static

from rcx.tui.app import RcxApp
from rcx.tui.forms import PlanDraft
from rcx.tui.widgets.results_grid import ResultsGrid

from ..conftest import tiny_plan
from .conftest import sync, wait_for

STAGE = """
[evaluators.again]
evaluator = "ridge_rfm"
trials = 1
train_size = 100
val_size = 60
batch_size = 32
dtype = "float32"
init = "kaiming_normal"
top = 2
by = ["ridge_rfm.val_acc", "params"]
"""


@sync
async def test_the_run_screen_counts_every_stage_and_the_results_sort_by_a_rank_average(tmp_path, registry):
    path = tiny_plan(tmp_path / "app", n=4, trials=1, extra=STAGE)
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "plan ok" in str(app.screen.query_one("#plan-status").render()),
                       what="validation")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.progress.state == "finished", what="the run")
        assert (app.progress.done, app.progress.skipped, app.progress.total) == (6, 2, 8)
        await pilot.press("f3")
        # the title follows the run's events, which may still be arriving after the state flips
        await wait_for(pilot, lambda: "2 done, 2 skipped" in str(app.screen.query_one("#run-title", Static).render()),
                       what="the Run screen's final counts")
        title = str(app.screen.query_one("#run-title", Static).render())
        assert "6/8 evaluations, 2 skipped" in title
        assert "stage 1 (ridge_rfm): 4 done | stage 2 (again): 2 done, 2 skipped" in title

        await pilot.press("f4")
        grid = app.screen.query_one(ResultsGrid)
        await wait_for(pilot, lambda: grid.row_count == 4, what="the table")
        deciding = "rankavg(ridge_rfm.val_acc,params)"  # the stage's by: a column of the table
        order = [(r["again.status"], r[deciding]) for r in grid.visible_rows()]
        assert [s for s, _ in order] == ["done", "done", "skipped", "skipped"], "finalists first"
        assert order[2][1] <= order[3][1], "then by the score that decided (lower rank average is better)"
        await pilot.press("slash", *"rank:ridge_rfm.val_acc,params", "enter")
        column = "rankavg(ridge_rfm.val_acc,params)"
        await wait_for(pilot, lambda: grid.sort_column == column, what="the rank sort")
        values = [r[column] for r in grid.visible_rows()]
        assert values == sorted(values) and grid.row_count == 4
