"""The app driven by Pilot: plan -> run -> results -> detail, pause, cancel, quit, follow, errors."""

from __future__ import annotations

import io
import threading
import time

from rich.console import Console

from rcx.core.plan import load_plan
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.evaluators.base import EvalResult, Evaluator
from rcx.hookspecs import hookimpl
from rcx.plugins import load_registry
from rcx.tui.app import RcxApp
from rcx.tui.forms import PlanDraft
from rcx.tui.widgets.results_grid import ResultsGrid

from ..conftest import tiny_plan
from .conftest import fixed_results, sync, wait_for


def _app(registry, path) -> RcxApp:
    text = path.read_text()
    return RcxApp(registry, PlanDraft.from_toml(text, path), text)


def _db_rows(path):
    store = Store.open_readonly(path)
    try:
        run = store.runs()[-1]
        evals = sorted((e["arch"], e["evaluator"], e["state"], e["metrics"].get("val_acc"), e["seed"],
                        [t.get("val_acc") for t in e["trials"]]) for e in store.evaluations(run.id))
        return run.plan_text, run.plan_hash, store.candidates(run.id), evals
    finally:
        store.close()


@sync
async def test_plan_run_results_detail_end_to_end(tmp_path, registry):
    path = tiny_plan(tmp_path / "app", n=4)
    app = _app(registry, path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "plan ok" in str(app.screen.query_one("#plan-status").render()), what="validation")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.progress.state == "finished", what="the run")
        await wait_for(pilot, lambda: app.table is not None and app.table.rows[-1]["ridge_rfm.status"] == "done",
                       what="the reload")
        assert app.progress.done == app.progress.total == 4
        assert any("finished" in m for _, m in app.log_lines)

        await pilot.press("f4")
        grid = app.screen.query_one(ResultsGrid)
        await wait_for(pilot, lambda: grid.row_count == 4, what="the table")
        accs = [r["ridge_rfm.val_acc"] for r in grid.visible_rows()]
        assert accs == sorted(accs, reverse=True)  # best first by the metric's direction
        await pilot.press("r")
        assert [r["ridge_rfm.val_acc"] for r in grid.visible_rows()] == sorted(accs)
        await pilot.click(ResultsGrid, offset=(3, 0))  # the "arch" header
        archs = [r["arch"] for r in grid.visible_rows()]
        assert grid.sort_column == "arch" and archs == sorted(archs)

        threshold = sorted(accs)[1]
        await pilot.press("slash", *f"val_acc>={threshold}", "enter")
        await wait_for(pilot, lambda: grid.row_count == 3, what="the filter")
        assert all(r["ridge_rfm.val_acc"] >= threshold for r in grid.visible_rows())
        await pilot.press("e")
        csv_path = path.parent / "results-run1.csv"
        await wait_for(pilot, csv_path.exists, what="the CSV")
        assert len(csv_path.read_text().splitlines()) == 4

        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "shown", None) is not None, what="the detail")
        console = Console(record=True, width=100, file=io.StringIO())
        console.print(app.screen.shown)
        body = console.export_text()
        assert "conv" in body and "trials" in body and "val_acc" in body
        await pilot.press("escape")
        assert isinstance(app.screen.query_one(ResultsGrid), ResultsGrid)

    # The same plan headless gives the same database contents (timings aside).
    headless = tiny_plan(tmp_path / "headless", n=4, output=str(path.parent / "results.db").replace("app", "headless"))
    plan = load_plan(headless, registry)
    store = Store.open(plan.output)
    Runner(plan, registry).run(store)
    store.close()
    a, b = _db_rows(path.parent / "results.db"), _db_rows(plan.output)
    assert a[1:] == b[1:]
    assert a[0].replace("/app/", "/headless/") == b[0]


@sync
async def test_form_flags_invalid_values_in_place(tmp_path, registry):
    app = _app(registry, tiny_plan(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        field = app.screen.query_one("#f-evaluators--ridge_rfm--trials")
        field.value = "0"
        await wait_for(pilot, lambda: "problem" in str(app.screen.query_one("#plan-status").render()), what="validation")
        row = field.parent.parent
        assert row.has_class("-invalid")
        assert str(row.query_one(".option-error").render()) == "must be int >= 1, got 0"
        await pilot.press("ctrl+r")
        assert app.job is None  # nothing runs with a problem
        field.value = "2"
        await wait_for(pilot, lambda: not row.has_class("-invalid"), what="the fix")


class Slow(Evaluator):
    """Takes a known time per evaluation, so a test can act while a run is in progress."""

    name = "slow"
    metrics = []

    def evaluate(self, ctx):
        time.sleep(0.15)
        return EvalResult("done", {})


def _with_evaluator(cls: type[Evaluator]):
    """The installed plugins plus a test evaluator."""

    class Plugin:
        @staticmethod
        @hookimpl
        def rcx_register_evaluators(register):
            register(cls)

    return load_registry([(Plugin, f"rcx-{cls.name}")])


@sync
async def test_pause_resume_and_cancel_leave_a_resumable_file(tmp_path):
    registry = _with_evaluator(Slow)
    path = tiny_plan(tmp_path, n=8, extra="[evaluators.slow]\n")
    app = _app(registry, path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.action_start_run()  # what ctrl+r does, then pause before the worker thread starts
        app.action_toggle_pause()
        assert app.progress.state == "paused"
        await wait_for(pilot, lambda: app.run_id is not None, what="the run to start")
        await pilot.pause(0.8)
        assert app.progress.done == 0 and app.running
        await pilot.press("space")  # resume
        await wait_for(pilot, lambda: app.progress.done >= 2, what="an evaluation")
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running, timeout=10, what="the cancel")
        assert app.progress.state in ("cancelled", "interrupted") and app.progress.done < 16
    plan = load_plan(path, registry)
    store = Store.open(plan.output)
    Runner(plan, registry).run(store)
    assert store.counts(1) == {"done": 16}
    store.close()


@sync
async def test_quit_during_a_run_asks_and_stops_within_a_second(tmp_path, registry):
    app = _app(registry, tiny_plan(tmp_path, n=30))
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.action_start_run()
        app.action_toggle_pause()  # keeps the tiny run going for as long as the test needs
        await wait_for(pilot, lambda: app.run_id is not None, what="the run to start")
        await pilot.press("ctrl+q")
        assert app.screen.__class__.__name__ == "ConfirmScreen" and app.running
        t0 = time.monotonic()
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.running, timeout=5, what="the worker to stop")
        assert time.monotonic() - t0 < 1.0
    assert app.return_code == 0


@sync
async def test_follows_a_run_that_another_process_writes(tmp_path, registry):
    path = tiny_plan(tmp_path, n=4)
    plan = load_plan(path, registry)
    runner = Runner(plan, registry)
    runner.setup()
    store = Store.open(plan.output)
    gate = threading.Event()
    runner.pause = gate  # held until the app is watching
    gate.set()
    worker = threading.Thread(target=runner.run, args=(store,))
    worker.start()
    try:
        while not plan.output.exists() or not Store.open_readonly(plan.output).runs():
            time.sleep(0.05)
        app = RcxApp(registry, db_path=plan.output)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.table is not None and len(app.table.rows) == 4, what="the first read")
            assert app.progress.done == 0
            gate.clear()
            await wait_for(pilot, lambda: app.progress.state == "finished" and app.progress.done == 4, what="following")
            grid = app.screen.query_one(ResultsGrid)
            await wait_for(pilot, lambda: all(r["ridge_rfm.status"] == "done" for r in grid.visible_rows()),
                           what="the table to update")
    finally:
        gate.clear()
        worker.join()
        store.close()


class Broken(Evaluator):
    name = "broken"
    metrics = []

    def evaluate(self, ctx):
        print("evaluator output must not reach the screen")
        raise RuntimeError("boom")


@sync
async def test_evaluator_errors_go_to_the_log_and_a_notification(tmp_path):
    registry = _with_evaluator(Broken)
    path = tiny_plan(tmp_path, n=2, extra="[evaluators.broken]\n")
    app = _app(registry, path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.progress.state == "finished", what="the run")
        errors = [m for level, m in app.log_lines if level == "error"]
        assert len(errors) == 2 and all("RuntimeError: boom" in m for m in errors)
        assert any("boom" in n.message for n in app._notifications)
        assert app.is_running
        assert any("output: evaluator output must not reach the screen" in m for _, m in app.log_lines)
    log = (tmp_path / "results.log").read_text()
    assert log.count("RuntimeError: boom") == 2


@sync
async def test_small_terminal_help_and_palette(tmp_path, registry):
    db = fixed_results(tmp_path / "r.db", registry)
    app = RcxApp(registry, db_path=db)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(ResultsGrid).row_count == 12, what="the table")
        await pilot.press("f1")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        for key in ("f2", "f3", "f4"):
            await pilot.press(key)
            await pilot.pause(0.1)
        commands = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Plan screen", "Run screen", "Results screen", "Start run", "Export CSV", "Cancel run"):
            assert title in commands
