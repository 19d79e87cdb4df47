"""The app driven by Pilot: plan -> run -> results -> detail, pause, cancel, quit, follow, errors."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from rcx.api.evaluator import EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.core import events as ev
from rcx.core.plan import load_plan
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.plugins import load_registry
from rcx.tui.app import RcxApp
from rcx.tui.forms import PlanDraft
from rcx.tui.widgets.results_grid import ResultsGrid

from ..conftest import tiny_plan
from .conftest import HANG_GUARD, fixed_results, settle, sync, wait_for


def _app(registry, path) -> RcxApp:
    text = path.read_text()
    return RcxApp(registry, PlanDraft.from_toml(text, path), text)


def _db_rows(path):
    store = Store.open_readonly(path)
    try:
        run = store.runs()[-1]
        evals = sorted((e["arch"], e["evaluator"], e["status"], e["metrics"].get("val_acc"), e["seed"],
                        [t.get("val_acc") for t in e["trials"]]) for e in store.evaluations(run.id))
        return run.plan_text, run.plan_hash, store.candidates(run.id), evals
    finally:
        store.close()


@sync
async def test_plan_run_results_detail_end_to_end(tmp_path, registry):
    path = tiny_plan(tmp_path / "app", n=4)
    app = _app(registry, path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "plan ok" in str(app.screen.query_one("#plan-status").render()),
                       what="validation")
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
        await wait_for(pilot, lambda: "problem" in str(app.screen.query_one("#plan-status").render()),
                       what="validation")
        row = field.parent.parent
        assert row.has_class("-invalid")
        assert str(row.query_one(".option-error").render()) == "must be int >= 1, got 0"
        await pilot.press("ctrl+r")
        assert app.job is None  # nothing runs with a problem
        field.value = "2"
        await wait_for(pilot, lambda: not row.has_class("-invalid"), what="the fix")


class Gated(Evaluator):
    """Each evaluation waits for a token (``Gated.tokens.release()``) or the run's cancel, so
    a test decides how far a run gets, whatever the machine's speed."""

    name = "gated"
    metrics = []
    tokens = threading.Semaphore(0)

    def evaluate(self, ctx):
        while not Gated.tokens.acquire(timeout=0.02):
            ctx.check_cancel()
        return EvalResult("done", {})


class CountingEvent(threading.Event):
    """A pause event that counts how often the runner looked at it."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        return super().is_set()


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
    registry = _with_evaluator(Gated)
    Gated.tokens = threading.Semaphore(0)
    path = tiny_plan(tmp_path, n=8, extra="[evaluators.gated]\n")
    app = _app(registry, path)
    app.pause_event = CountingEvent()
    titles: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.watch(app, "sub_title", lambda title: titles.append(title))
        app.screen.action_start_run()  # what ctrl+r does, then pause before the worker thread starts
        app.action_toggle_pause()
        assert app.progress.state == "paused"
        await wait_for(pilot, lambda: app.run_id is not None, what="the run to start")
        checks = app.pause_event.checks
        await wait_for(pilot, lambda: app.pause_event.checks > checks + 3, what="the runner to wait")
        assert app.progress.done == 0 and app.running
        assert app.sub_title.endswith("(tiny, paused)")  # issue 12.3.6: not the file's "running"
        await pilot.press("space")  # resume
        assert app.sub_title.endswith("(tiny, running)")
        Gated.tokens.release()  # one gated evaluation; the run cannot finish before the cancel
        await wait_for(pilot, lambda: app.progress.done >= 2, what="an evaluation")
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.running, what="the cancel")
        assert app.progress.state in ("cancelled", "interrupted") and app.progress.done < 16
    assert titles and not any("no such" in t for t in titles), "\n".join(titles)  # issue 12.3.6: never while starting
    # issue 12.3.7: the log has what the screen showed, and the store is closed cleanly
    log = (tmp_path / "results.log").read_text()
    for line in ("INFO starting 'tiny'", "INFO run 1 started on cpu", "INFO pausing after the current evaluation",
                 "INFO resumed", "WARNING cancelling after the current batch", "INFO run 1 stopped (resumable)"):
        assert line in log, line
    assert not list(tmp_path.glob("results.db-*"))  # no -wal, no -shm
    plan = load_plan(path, registry)
    store = Store.open(plan.output)
    Gated.tokens.release(16)  # the resumed run goes through
    Runner(plan, registry).run(store)
    assert store.counts(1) == {"done": 16}
    store.close()


@sync
async def test_quit_during_a_run_asks_and_stops_the_run(tmp_path, registry):
    app = _app(registry, tiny_plan(tmp_path, n=30))
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.action_start_run()
        app.action_toggle_pause()  # keeps the tiny run going for as long as the test needs
        await wait_for(pilot, lambda: app.run_id is not None, what="the run to start")
        await pilot.press("ctrl+q")
        assert app.screen.__class__.__name__ == "ConfirmScreen" and app.running
        await pilot.press("y")
        assert app.cancel_event.is_set()  # the runner stops after its current batch
        await wait_for(pilot, lambda: not app.running, what="the worker to stop")
    assert app.return_code == 0


@sync
async def test_follows_a_run_that_another_process_writes(tmp_path, registry):
    path = tiny_plan(tmp_path, n=4)
    plan = load_plan(path, registry)
    runner = Runner(plan, registry)
    runner.setup()
    store = Store.open(plan.output)
    gate, started = threading.Event(), threading.Event()
    runner.pause = gate  # held until the app is watching
    gate.set()
    runner.on_event = lambda event: started.set() if isinstance(event, ev.RunStarted) else None
    worker = threading.Thread(target=runner.run, args=(store,))
    worker.start()
    try:
        assert started.wait(HANG_GUARD), "the run did not start"
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
            await settle(pilot)
        commands = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Plan screen", "Run screen", "Results screen", "Start run", "Export CSV", "Cancel run"):
            assert title in commands


def test_a_device_list_that_arrives_after_the_screens_closed_is_kept_quietly(tmp_path) -> None:
    """The device probe runs in a thread; its answer may come after the app popped its screens
    (at quit): the app keeps the list and raises nothing (it raised ScreenStackError)."""
    from rcx.tui.messages import DevicesListed

    plan = tiny_plan(tmp_path)
    app = _app(load_registry(), plan)
    assert not app.screen_stack
    app.on_devices_listed(DevicesListed([("cuda:0 (test)", "cuda:0")]))
    assert app.cuda_devices == [("cuda:0 (test)", "cuda:0")]
