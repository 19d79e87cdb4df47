"""The TUI as a researcher met it on small real runs (review of 2026-12-07): one Pilot test per
defect, each failing before its fix."""

from __future__ import annotations

import re

from textual.widgets import Static
from textual_plotext import PlotextPlot

from rcx.tui.app import RcxApp
from rcx.tui.screens.results import ResultsScreen

from .conftest import fixed_results, settle, sync, synthetic_results

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plot_title(plot: PlotextPlot) -> str:
    """The first line plotext draws for ``plot`` at its size: the title."""
    plot.plt.plotsize(plot.size.width, plot.size.height)
    return _ANSI.sub("", plot.plt.build()).split("\n")[0].strip()


@sync
async def test_charts_name_the_evaluator_when_two_share_a_metric(tmp_path, registry):
    """ridge_a and ridge_b both report val_acc: "val_acc vs throughput" did not say whose."""
    app = RcxApp(registry, db_path=synthetic_results(tmp_path / "r.db", registry, n=30))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        metric = app.chart_metric
        assert metric == "ridge_a.val_acc"
        counts = str(app.screen.query_one("#run-counts", Static).render())
        assert f"chart: {metric} " in counts
        titles = [_plot_title(app.screen.query_one(f"#chart-{n}", PlotextPlot)) for n in ("scatter", "hist", "best")]
        assert titles[0] == f"{metric} vs ridge_a.throughput", titles
        assert titles[1].startswith(f"{metric}: ") and titles[2].startswith(f"best {metric}: "), titles


@sync
async def test_the_plan_status_names_the_fields_with_problems_and_ctrl_r_goes_there(tmp_path, registry):
    """A problem shown under a field screens below the top read only "1 problem(s)" above the
    form, and ctrl+r answered "fix them first" without saying where."""
    from rcx.tui.forms import PlanDraft
    from rcx.tui.widgets.option_form import field_id

    from ..conftest import tiny_plan

    path = tiny_plan(tmp_path, extra="trials_x = 3\n")
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        status = str(app.screen.query_one("#plan-status", Static).render())
        assert "1 problem(s)" in status and "evaluators.ridge_rfm.trials_x" in status, status
        field = app.screen.query_one(f"#{field_id('evaluators.ridge_rfm.trials_x')}")
        assert not app.screen.query_one("#plan-form").region.contains_region(field.region)  # below the first screen
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.focused is field and app.run_id is None
        assert app.screen.query_one("#plan-form").region.contains_region(field.region)  # scrolled to it


@sync
async def test_s_sorts_by_the_rank_average_of_several_columns(tmp_path, registry):
    """The sort picker offered one column at a time: a rank average (rcx results --score a,b)
    was only reachable by typing rank:a,b into the filter, and its column sat off-screen."""
    from rcx.tui.screens.dialogs import MultiPickScreen
    from rcx.tui.widgets.results_grid import ResultsGrid

    from .conftest import wait_for

    app = RcxApp(registry, db_path=synthetic_results(tmp_path / "r.db", registry, n=30))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("s", "home", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MultiPickScreen), what="the columns to pick")
        picker = app.screen.query_one("#pick")
        values = [picker.get_option_at_index(i).value for i in range(picker.option_count)]
        for column in ("ridge_a.val_acc", "ridge_b.val_acc"):
            picker.highlighted = values.index(column)
            await pilot.press("space")
        await pilot.press("s")
        await settle(pilot)
        rank = "rankavg(ridge_a.val_acc,ridge_b.val_acc)"
        grid = app.screen.query_one(ResultsGrid)
        assert grid.sort_column == rank and not grid.descending
        assert grid.view_cols[:2] == ["arch", rank]  # the column sorted by is in view
        assert app.screen.query_one("#filter").value == "rank:ridge_a.val_acc,ridge_b.val_acc"
        assert grid.visible_rows() == app.table.sorted(rank, False)


@sync
async def test_the_status_counts_every_row_once_a_large_table_is_in(tmp_path, registry):
    """A table of more than one chunk (500 rows) is added in chunks; the status line kept the
    count of the first chunk: "500 of 1,000 rows" with all 1,000 in the table."""
    from rcx.tui.widgets.results_grid import CHUNK, ResultsGrid

    n = CHUNK + 100
    app = RcxApp(registry, db_path=synthetic_results(tmp_path / "r.db", registry, n=n))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(ResultsGrid).row_count == n
        status = str(app.screen.query_one("#results-status", Static).render())
        assert f"{n:,} of {n:,} rows" in status, status


@sync
async def test_an_unknown_evaluator_in_the_plan_is_a_problem_not_dropped(tmp_path, registry):
    """A misspelt evaluator ([evaluators.synfloww]) vanished from the form's list: the status
    read "plan ok" and ctrl+r ran the plan without it."""
    from rcx.tui.forms import PlanDraft

    from ..conftest import tiny_plan

    path = tiny_plan(tmp_path, extra="[evaluators.ridge_rfmm]\n")
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        status = str(app.screen.query_one("#plan-status", Static).render())
        assert "unknown evaluator 'ridge_rfmm'" in status, status
        assert "ridge_rfmm" in app.draft.evaluators
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.run_id is None and not app.running


@sync
async def test_an_unknown_space_or_dataset_opens_the_form_with_the_problem(tmp_path, registry):
    """A plan naming a space or dataset not installed here (misspelt, or a plugin this machine
    lacks) ended the app with a traceback: the selector refused the value."""
    from rcx.tui.forms import PlanDraft

    from ..conftest import tiny_plan

    path = tiny_plan(tmp_path)
    text = path.read_text().replace('name = "ksd"', 'name = "ksdd"').replace('name = "synthetic"', 'name = "synth"')
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        status = str(app.screen.query_one("#plan-status", Static).render())
        assert "unknown space 'ksdd'" in status and "unknown dataset 'synth'" in status, status
        assert app.draft.space.plugin == "ksdd" and app.draft.dataset.plugin == "synth"


@sync
async def test_ctrl_o_opens_another_results_file(tmp_path, registry):
    """There was no way to open another results file (or plan) from the app: quit and type
    `rcx FILE` again. ctrl+o asks for one, refuses what `rcx FILE` refuses with its message,
    and hands a good one to rcx.tui.main (the app ends, a new one opens on it)."""
    from textual.widgets import Input

    from rcx.tui.screens.dialogs import PathScreen

    from .conftest import fixed_results, wait_for

    first = fixed_results(tmp_path / "a.db", registry)
    other = fixed_results(tmp_path / "b.db", registry, n=5)
    app = RcxApp(registry, db_path=first)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for path in (tmp_path / "missing.db", other):
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, PathScreen), what="the open dialog")
            app.screen.query_one(Input).value = str(path)
            await pilot.press("enter")
            await pilot.pause()
            if path != other:
                assert app.reopen is None and "no such results file" in str(list(app._notifications)[-1].message)
    assert app.reopen == (None, None, other) and app.return_code == 0


@sync
async def test_the_empty_charts_frames_start_on_one_row(tmp_path, registry):
    """Before the first result only the scatter had a title ("no results yet"), so its frame
    started a row lower than the histogram's and the best-so-far's."""
    app = RcxApp(registry)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        tops = []
        for name in ("scatter", "hist", "best"):
            plot = app.screen.query_one(f"#chart-{name}", PlotextPlot)
            plot.plt.plotsize(plot.size.width, plot.size.height)
            lines = _ANSI.sub("", plot.plt.build()).split("\n")
            tops.append(next(i for i, line in enumerate(lines) if "┌" in line))
        assert len(set(tops)) == 1, tops


@sync
async def test_the_detail_view_shows_its_own_keys(tmp_path, registry):
    """Over the Detail view the Results screen's footer stayed: s, r, / and c listed there do
    nothing in the detail, and escape (which closes it) was not listed."""
    from textual.widgets._footer import FooterKey

    from rcx.tui.screens.detail import DetailScreen

    from .conftest import fixed_results, wait_for

    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown is not None,
                       what="the detail")
        await settle(pilot)
        keys = {k.key for k in app.screen.query(FooterKey)}
        assert "escape" in keys and not keys & {"s", "r", "slash", "c"}, keys


@sync
async def test_the_output_follows_a_new_name_until_it_is_set_by_hand(tmp_path, registry):
    """Naming a new plan in the form left its output at runs/untitled.db: every plan made in
    the form wrote into the same results file."""
    from textual.widgets import Input

    from rcx.tui.widgets.option_form import field_id

    from .conftest import wait_for

    app = RcxApp(registry)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        name, output = (app.screen.query_one(f"#{field_id(k)}", Input) for k in ("name", "output"))
        assert output.value == "runs/untitled.db"
        name.focus()
        name.value = ""
        await pilot.press(*"rv1")
        await settle(pilot)
        assert output.value == "runs/rv1.db"
        await wait_for(pilot, lambda: app.draft.output == "runs/rv1.db", what="the plan's output")
        output.value = "elsewhere/mine.db"
        name.value = "rv2"
        await settle(pilot)
        assert output.value == "elsewhere/mine.db"


@sync
async def test_a_results_file_of_another_plan_is_refused_in_the_tui_s_words(tmp_path, registry):
    """Running a plan into a results file that holds another plan's run said "Use another --db,
    or pass --new-run" (flags of the command line, not the TUI's), and the title then read
    "run 1 (<the other plan>, failed)" as if that run had failed."""
    from rcx.tui.forms import PlanDraft

    from ..conftest import tiny_plan
    from .conftest import wait_for

    out = fixed_results(tmp_path / "r.db", registry, n=3)
    path = tiny_plan(tmp_path, output=str(out))
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not app.running and any(level == "error" for level, _ in app.log_lines),
                       what="the refusal")
        await settle(pilot)
        error = next(m for level, m in app.log_lines if level == "error")
        assert "of a different plan" in error and "--db" not in error and "Plan screen" in error, error
        assert "fixed, failed" not in app.sub_title, app.sub_title  # the file's run did not fail
        await pilot.press("f4")  # the Results screen listed the other plan's rows as if they were this plan's
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="the Results screen")
        await settle(pilot)
        assert app.table is None and app.screen.grid.row_count == 0
        status = str(app.screen.query_one("#results-status", Static).render())
        assert "another plan" in status and "not shown" in status, status


@sync
async def test_the_pick_path_and_help_dialogs_show_their_own_keys(tmp_path, registry):
    """Over a pick, path or help dialog the screen behind kept its footer: s, r, / and c listed
    there do nothing while the dialog is open (s accepts in the multiple pick, its own key), and
    escape (which closes it) was not listed."""
    from textual.widgets._footer import FooterKey

    from rcx.tui.screens.dialogs import HelpScreen, MultiPickScreen, PathScreen, PickScreen

    from .conftest import wait_for

    app = RcxApp(registry, db_path=synthetic_results(tmp_path / "r.db", registry, n=30))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        for keys, dialog in ((("m",), PickScreen), (("s", "home", "enter"), MultiPickScreen),
                             (("ctrl+o",), PathScreen), (("f1",), HelpScreen)):
            await pilot.press(*keys)
            await wait_for(pilot, lambda d=dialog: isinstance(app.screen, d), what=dialog.__name__)
            await settle(pilot)
            shown = {k.key for k in app.screen.query(FooterKey)}
            own = {key for b in dialog.BINDINGS for key in b.key.split(",")}  # MultiPickScreen's s accepts
            assert "escape" in shown and shown <= own and not shown & {"r", "slash", "c"}, (dialog.__name__, shown)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not app.screen.is_modal, what="the Results screen again")


@sync
async def test_the_correlation_summary_is_cut_after_a_word_with_an_ellipsis(tmp_path, registry):
    """The summary's second line (what was excluded, and why) was cut at the screen's edge
    without a mark, mid-list ("...missing 671,"), so it read as the whole note."""
    from rcx.tui.correlation import summary
    from rcx.tui.widgets.corr_view import CorrView

    from .conftest import wait_for

    app = RcxApp(registry, db_path=synthetic_results(tmp_path / "r.db", registry, n=60, done=40))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f4", "c")
        view = app.screen.query_one(CorrView)
        await wait_for(pilot, lambda: view.report is not None, what="the report")
        await settle(pilot)
        box = app.screen.query_one("#corr-summary")
        full = summary(view.report).split("\n")
        assert len(full[1]) > box.content_size.width, full  # the note does not fit: it must be cut
        shown = str(box.render()).split("\n")
        assert shown[0] == full[0] and len(shown) == 2, shown
        kept = shown[1].removesuffix(" …")
        assert shown[1].endswith(" …") and len(shown[1]) <= box.content_size.width, shown
        assert full[1].startswith(kept) and full[1][len(kept)] == " ", (kept, full[1])  # after a whole word


@sync
async def test_a_run_of_invalid_candidates_shows_no_rate(tmp_path, registry):
    """A run where no architecture fits the input read "rate 3519.79/s": the rate counted
    evaluations that computed nothing (invalid ones are recorded at once)."""
    from rcx.tui.forms import PlanDraft

    from ..conftest import tiny_plan
    from .conftest import wait_for

    path = tiny_plan(tmp_path, n=6, valid_only=False)
    path.write_text(path.read_text().replace("n_test = 80\n", "n_test = 80\nimage_size = 8\n"))  # ksd needs more
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not app.running and app.progress.state == "finished", what="the run")
        await settle(pilot)
        assert app.progress.counts == {"invalid": 6}, app.progress.counts
        app.screen.refresh_view()
        title = str(app.screen.query_one("#run-title", Static).render())
        assert "6/6 evaluations   rate -   ETA -" in title, title


def _trained_results(path, registry, epochs: list[float]):
    """A results file of a ``trained`` run (no training: fixed metrics), one candidate per
    entry of ``epochs``, each with that many epochs completed."""
    from .conftest import ksd_results_file

    space = registry.get("space", "ksd")(channels=8)
    valid = [i * 997 for i in range(40) if space.describe(space.arch_at(i * 997), (3, 32, 32)).valid]
    store, run_id, archs, _ = ksd_results_file(path, registry, "trained", "[evaluators.trained]\n",
                                               valid[:len(epochs)])
    for i, (a, n) in enumerate(zip(archs, epochs)):
        store.finish_evaluation(run_id, a.id, "trained", "done", seed=i, seconds=1.0,
                                metrics={"val_acc": 0.5 + 0.1 * i, "train_loss": 1.0, "epochs": n})
    store.set_run_state(run_id, "finished")
    store.close()
    return path, [a.id for a in archs]


@sync
async def test_epochs_read_as_a_count(tmp_path, registry):
    """The Detail view read "epochs 1.000": a count of epochs (unit count, fractional only
    under a step budget) shown at a float's four significant digits."""
    import io

    from rich.console import Console

    from rcx.tui.screens.detail import DetailScreen
    from rcx.tui.widgets.results_grid import ResultsGrid

    from .conftest import wait_for

    path, archs = _trained_results(tmp_path / "r.db", registry, [1.0, 2.5])
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        grid = app.screen.query_one(ResultsGrid)
        assert "trained.epochs" in grid.view_cols, grid.view_cols
        assert [grid.get_cell(a, "trained.epochs") for a in archs] == ["1", "2.5"]
        assert grid.get_cell(archs[1], "trained.val_acc") == "0.6000"  # the general rule stays
        grid.move_cursor(row=grid.get_row_index(archs[0]))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown is not None,
                       what="the detail")
        console = Console(record=True, width=100, file=io.StringIO())
        console.print(app.screen.shown)
        lines = [line.split() for line in console.export_text().splitlines()]
    assert ["epochs", "1"] in lines and ["val_acc", "0.5000"] in lines, lines


@sync
async def test_a_refused_run_shows_no_counts_of_the_file_s_other_plan(tmp_path, registry):
    """Refused by a results file holding another plan's run, F3 then showed that run's counts
    ("failed 1", "4/4 evaluations") and the title "run 1 (fixed, finished)", as if they were
    this plan's."""
    from rcx.tui.forms import PlanDraft
    from rcx.tui.screens.run import RunScreen

    from ..conftest import tiny_plan
    from .conftest import wait_for

    out = fixed_results(tmp_path / "r.db", registry, n=4)
    path = tiny_plan(tmp_path, output=str(out))
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not app.running and any(level == "error" for level, _ in app.log_lines),
                       what="the refusal")
        await wait_for(pilot, lambda: app.follower._last_sig is not None and not app.follower.busy,
                       what="the file read after it")
        await settle(pilot)
        assert app.table is None  # the other plan's rows are not this plan's results either
        assert isinstance(app.screen, RunScreen)
        app.screen.refresh_view()
        title = str(app.screen.query_one("#run-title", Static).render())
        counts = str(app.screen.query_one("#run-counts", Static).render())
        assert set(app.progress.status_counts().values()) == {0}, app.progress.counts
        assert "run -" in title and "0/0 evaluations" in title and "4/4" not in title, title
        assert "done 0   screened 0   invalid 0   failed 0" in counts, counts
        assert "did not start" in app.sub_title, app.sub_title
        assert not any("fixed" in m for level, m in app.log_lines if level != "error"), app.log_lines
