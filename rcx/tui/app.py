"""The rcx Textual app: Plan, Run and Results screens over the headless core.

The App owns the thread workers: one runs the plan through :class:`~rcx.core.runner.Runner`
(the same runner and store as ``rcx run --headless``), one reloads the results file, one reads
an architecture's detail. Workers only ``post_message``; the App folds the messages into plain
state (:class:`~rcx.tui.state.Progress`, the latest :class:`ResultsTable`, the log) and the
screens pull that state on their own timers, a few times a second.
"""

from __future__ import annotations

import gc
import logging
import shlex
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from textual import events, work
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from rcx.analysis.truth import space_truths
from rcx.core import events as ev
from rcx.core.plan import Plan
from rcx.core.results import ResultsTable, results_table
from rcx.core.store import Store, StoreError
from rcx.exec.settings import ExecutionSettings
from rcx.plugins import Registry
from rcx.tui.forms import Component, PlanDraft
from rcx.tui.messages import DevicesListed, RunError, RunEvent, Snapshot, StoreLoaded, StoreUnavailable
from rcx.tui.screens.detail import DetailLoaded, DetailScreen
from rcx.tui.screens.dialogs import ConfirmScreen, HelpScreen
from rcx.tui.screens.plan import PlanScreen
from rcx.tui.screens.results import ResultsScreen
from rcx.tui.screens.run import RunScreen
from rcx.tui.state import Progress, changed_rows

MAX_LOG_LINES = 2000
CHANGE_HISTORY = 64  # table reloads remembered for screens that pull changes late
FREEZE_ROWS = 5000
"""From this many rows on, a loaded table is moved out of the cyclic garbage collector's reach
(:func:`gc.freeze`): otherwise every full collection walks its million objects, a 150-250 ms
pause of the event loop. Tables hold no reference cycles, so a replaced one is still freed by
reference counting."""


def quit_prompt(db_path: Path | None) -> str:
    """The question before quitting during a run, with the exact command that resumes it (the
    results file holds the plan, so it is enough, even for a plan edited in the form)."""
    if db_path is None:
        return "A run is in progress. Stop it and quit?"
    return (f"A run is in progress. Stop it and quit?\nFinished evaluations are saved in {db_path}; resume with\n"
            f"  rcx run --headless {shlex.quote(str(db_path))}")


def run_logger(db_path: Path) -> tuple[logging.Logger, logging.Handler]:
    """A logger that writes to ``<results file>.log`` next to the results file, never to the terminal."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(db_path.with_suffix(".log"), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger(f"rcx.tui.run.{db_path.resolve()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    return logger, handler


def tidy_results_file(path: Path | None) -> None:
    """Fold the results file's ``-wal`` into it and remove ``-wal``/``-shm``, as a headless
    run's closing writer does. The TUI's last connection to a file is often a read-only one,
    which cannot remove them; a read-write connection that opens the file and closes as the
    last one does (SQLite checkpoints on the last close). Another process still using the
    file keeps them, as it should."""
    if path is None or not Path(f"{path}-wal").exists():
        return
    try:
        conn = sqlite3.connect(path, timeout=1.0)
        try:
            conn.execute("PRAGMA schema_version").fetchone()  # opens the database and its WAL
        finally:
            conn.close()
    except sqlite3.Error:  # locked or not a database: nothing to tidy now
        pass


def draft_from_results(path: Path) -> tuple[PlanDraft, str] | None:
    """The plan of the latest run in the results file ``path`` as a draft writing to ``path``,
    with the plan's text (None when the file has no readable run or plan)."""
    import tomli

    try:
        store = Store.open_readonly(path)
    except StoreError:
        return None
    try:
        text = store.run().plan_text
        draft = PlanDraft.from_toml(text)
    except (StoreError, sqlite3.Error, tomli.TOMLDecodeError):
        return None
    finally:
        store.close()
    draft.output = str(path)
    return draft, text


def default_draft(registry: Registry) -> PlanDraft:
    """A quickstart-like plan: synthetic data, 40 random fitting ksd nets, the first evaluator."""
    evaluators = registry.names("evaluator")
    pick = "ridge_rfm" if "ridge_rfm" in evaluators else (evaluators[0] if evaluators else None)
    draft = PlanDraft()
    if pick:
        draft.evaluators[pick] = Component(pick)
    return draft


class RcxApp(App[int]):
    """Pick, run and watch experiments."""

    CSS_PATH = "app.tcss"
    TITLE = "rcx"
    MODES = {"plan": PlanScreen, "run": RunScreen, "results": ResultsScreen}
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "switch_mode('plan')", "Plan"),
        Binding("f3", "switch_mode('run')", "Run"),
        Binding("f4", "switch_mode('results')", "Results"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, registry: Registry, draft: PlanDraft | None = None, plan_text: str | None = None,
                 db_path: Path | None = None, execution: ExecutionSettings | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.execution = execution or ExecutionSettings()  # the Plan screen's execution section (not the plan)
        loaded = draft_from_results(db_path) if draft is None and db_path is not None else None
        self.draft = draft or (loaded[0] if loaded else default_draft(registry))
        self.plan_text = plan_text  # the plan file's own text, run as it is when the form did not change it
        self.db_path = db_path
        self.run_id: int | None = None  # None: the latest run in the file
        self.progress = Progress()
        self.table: ResultsTable | None = None
        self.table_version = 0
        self.changes: list[tuple[int, set[str] | None]] = []
        self.chart_metric: str | None = None
        self.log_lines: list[tuple[str, str]] = []
        self.log_dropped = 0
        self.cancel_event = threading.Event()
        self.pause_event = threading.Event()
        self.job: Worker | None = None
        self._own_run: int | None = None
        self._dirty = db_path is not None
        self._reload_busy = False
        self._readers = 0  # read-only connections the reload thread holds open (0 or 1)
        self._closing = False  # the App is unmounting: no new reads
        self._readers_done = threading.Condition()
        self._next_reload = 0.0
        self._last_sig: Any = None
        self._last_rows: dict[str, dict[str, Any]] = {}
        self._logs_seen = 0
        self._quitting = False
        self._last_error_note = 0.0
        self._run_name = ""  # the shown run's name, for the title
        self._store_note = ""  # why the results file cannot be read (shown in the title)
        self._run_log: logging.Logger | None = None  # <results>.log of this app's own run
        self._run_log_handler: logging.Handler | None = None
        self._generation = 0  # results files opened so far: a reload of an earlier one is ignored
        self._read_ok_since = 0.0  # start of the latest successful read of the results file
        self.cuda_devices: list[tuple[str, str]] = []  # for the Plan screen, listed after the first frame

    # -- start-up -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.switch_mode("results" if self.db_path is not None else "plan")
        self.set_interval(0.5, self._poll_store)
        for problem in self.registry.problems:
            self.add_log("warning", problem, notify=True)
        self.begin_capture_print(self)  # stray print() from plugins: into the log, never over the screen
        self.call_after_refresh(self._list_devices)  # imports torch: not before the first screen is drawn

    @work(thread=True, exclusive=True, group="devices", exit_on_error=False)
    def _list_devices(self) -> None:
        """The CUDA devices for the Plan screen's device selector (listing them imports torch)."""
        from rcx.tui.forms import cuda_devices

        self.post_message(DevicesListed(cuda_devices()))

    def on_devices_listed(self, message: DevicesListed) -> None:
        self.cuda_devices = message.devices
        if isinstance(self.screen, PlanScreen):
            self.screen.show_devices()

    def on_unmount(self) -> None:
        self._close_run_log()
        with self._readers_done:  # a reload thread still reading: let it close first (bounded)
            self._closing = True  # and none starts from now on
            self._readers_done.wait_for(lambda: self._readers == 0, timeout=5.0)
        tidy_results_file(self.db_path)

    def on_print(self, event: events.Print) -> None:
        text = event.text.strip()
        if text:
            self.add_log("warning" if event.stderr else "info", f"output: {text}")

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.state in (WorkerState.PENDING, WorkerState.RUNNING)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pause and cancel only while this app runs a plan (not when following a file)."""
        if action in ("toggle_pause", "cancel_run"):
            return self.running
        return True

    def is_settled(self) -> bool:
        """True when what the screen shows has stopped changing: the results file read (when
        one is open), no reload, detail or correlation worker busy, and the current screen up to
        date with the App's state (its ``is_settled``). Tests take snapshots then."""
        if self.db_path is not None and self.table is None and not self._store_note:
            return False
        if self._reload_busy or any(w.group in ("reload", "detail", "corr", "devices") and w.state in
                                    (WorkerState.PENDING, WorkerState.RUNNING) for w in self.workers):
            return False
        check = getattr(self.screen, "is_settled", None)
        return bool(check()) if check is not None else True

    def _update_title(self) -> None:
        """``<results file>  run N (name, state)``, the state as this app sees it (paused,
        cancelling) rather than the file's ``running``; while a run starts, ``starting``."""
        if self.db_path is None:
            self.sub_title = ""
        elif self._store_note and not self.running:
            self.sub_title = self._store_note
        elif self.run_id is None:
            self.sub_title = f"{self.db_path}  starting {self._run_name!r}" if self.running else str(self.db_path)
        else:
            self.sub_title = f"{self.db_path}  run {self.run_id} ({self._run_name}, {self.progress.state})"

    # -- log and notifications ----------------------------------------------------------------
    def add_log(self, level: str, message: str, notify: bool = False) -> None:
        """Append to the Run screen's log; errors (and ``notify``) also raise a notification,
        at most one every two seconds so a run of failures cannot flood the screen. On the Run
        screen the log shows the line, so only errors raise one (at the top: the stylesheet keeps
        that screen's toasts off the log)."""
        self.log_lines.append((level, message))
        if len(self.log_lines) > MAX_LOG_LINES:
            drop = len(self.log_lines) - MAX_LOG_LINES
            del self.log_lines[:drop]
            self.log_dropped += drop
        if self._run_log is not None:
            self._run_log.log(logging.getLevelName(level.upper()), message)
        now = time.monotonic()
        if self._log_shown() and level != "error":
            return
        if notify or (level == "error" and now - self._last_error_note > 2.0):
            self._last_error_note = now
            self.notify(message, severity="error" if level == "error" else "warning" if level == "warning" else "information",
                        timeout=8 if level == "error" else 4)

    def _log_shown(self) -> bool:
        """Whether the Run screen, with the log, is the one shown."""
        try:
            return isinstance(self.screen, RunScreen)
        except ScreenStackError:  # before the first screen
            return False

    # -- running ----------------------------------------------------------------------------
    def start_run(self, plan: Plan) -> None:
        """Run ``plan`` in the background (resuming it when its results file holds it)."""
        if self.running:
            self.notify("a run is already in progress", severity="warning")
            return
        self.cancel_event.clear()
        self.pause_event.clear()
        self._reset_results(plan.output)
        self.progress = Progress(state="loading")
        self._run_name, self._store_note = plan.name, ""
        self._close_run_log()
        self._run_log, self._run_log_handler = run_logger(plan.output)
        self.add_log("info", f"starting {plan.name!r}: results in {plan.output}, log in {plan.output.with_suffix('.log')}")
        self.job = self._run(plan, self._run_log)
        self._update_title()
        self.refresh_bindings()
        self.switch_mode("run")

    def _close_run_log(self) -> None:
        if self._run_log is not None and self._run_log_handler is not None:
            self._run_log.removeHandler(self._run_log_handler)
            self._run_log_handler.close()
        self._run_log = self._run_log_handler = None

    def _reset_results(self, db_path: Path | None) -> None:
        self.db_path, self.run_id, self.table, self._last_sig, self._last_rows = db_path, None, None, None, {}
        self.table_version += 1
        self.changes.append((self.table_version, None))
        self._logs_seen, self._dirty = 0, True
        self._generation += 1

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _run(self, plan: Plan, logger: logging.Logger) -> None:
        """The run worker; the App writes the log lines (``add_log``) to ``logger``'s file,
        this thread only a traceback, which the screen does not show."""
        from rcx.core.runner import ExecutorError
        from rcx.core.session import RUN_ERRORS, run_plan
        from rcx.exec import build_runner

        def on_event(event: ev.Event) -> None:
            if not isinstance(event, ev.EvalProgress):
                self.post_message(RunEvent(event))

        try:
            runner = build_runner(plan, self.registry, self.execution, on_event=on_event, cancel=self.cancel_event,
                                  pause=self.pause_event)
        except ExecutorError as exc:
            self.post_message(RunError(str(exc)))
            return
        try:
            if self.execution.executor != "in-process":
                self.post_message(RunEvent(ev.Log("info", f"connecting: {self.execution.describe()}")))
            run_plan(runner)
        except RUN_ERRORS as exc:
            self.post_message(RunError(str(exc)))
        except Exception as exc:  # a bug in a plugin or in rcx: logged with its traceback, never a crash
            logger.exception("run failed")
            self.post_message(RunError(f"{type(exc).__name__}: {exc} (traceback in {plan.output.with_suffix('.log')})"))

    def on_run_event(self, message: RunEvent) -> None:
        event = message.event
        self.progress.apply(event)
        if self.pause_event.is_set() and self.progress.state == "running":
            self.progress.pause()
        if isinstance(event, ev.RunStarted):
            self.run_id = self._own_run = event.run_id
            what = "resuming" if event.resumed else "started"
            self.add_log("info", f"run {event.run_id} {what} on {event.device}: {event.total} evaluations "
                                 f"({event.candidates} candidates x {len(event.evaluators)} evaluators), {event.done} already done")
        elif isinstance(event, ev.StageStarted):
            skipped = f", {event.skipped:,} skipped" if event.skipped else ""
            self.add_log("info", f"stage {event.stage + 1}/{event.stages}: {event.rule}: "
                                 f"{event.selected:,} candidates{skipped}")
        elif isinstance(event, ev.Log):
            self.add_log(event.level, event.message)
        elif isinstance(event, ev.RunFinished):
            counts = ", ".join(f"{k} {v}" for k, v in sorted(event.counts.items()))
            word = "stopped (resumable)" if event.cancelled else "finished"
            self.add_log("info", f"run {event.run_id} {word} in {event.seconds:.1f} s: {counts}", notify=True)
        self._dirty = True
        self._update_title()

    def on_run_error(self, message: RunError) -> None:
        self.progress.state = "failed"
        self.add_log("error", message.message, notify=True)
        self._update_title()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.job and event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            if event.state == WorkerState.ERROR:
                self.add_log("error", f"run worker: {event.worker.error}", notify=True)
            self._close_run_log()
            self._dirty = True
            self._update_title()
            self.refresh_bindings()
            if self._quitting:
                self.exit(0)

    def action_toggle_pause(self) -> None:
        if not self.running:
            self.notify("no run in progress", severity="warning")
            return
        if self.pause_event.is_set():
            self.pause_event.clear()
            self.progress.resume()
            self.add_log("info", "resumed")
        else:
            self.pause_event.set()
            self.progress.pause()
            self.add_log("info", "pausing after the current evaluation")
        self._update_title()

    def action_cancel_run(self) -> None:
        if not self.running:
            self.notify("no run in progress", severity="warning")
            return
        self.cancel_event.set()
        self.pause_event.clear()
        self.progress.state = "cancelling"
        self.add_log("warning", "cancelling after the current batch; the results file stays resumable")
        self._update_title()

    # -- the results file ---------------------------------------------------------------------
    def _poll_store(self) -> None:
        """Reload the results file when a run here changed it, or (following another process's
        run) check it; reloads wait at least three times as long as the previous one took."""
        now = time.monotonic()
        if self.db_path is None or self._reload_busy or now < self._next_reload:
            return
        if not (self._dirty or not self.running):
            return
        self._dirty = False
        self._reload_busy = True
        self._reload(self.db_path, self.run_id, self._last_sig, self._last_rows, self._logs_seen, now, self._generation)

    @work(thread=True, exclusive=True, group="reload", exit_on_error=False)
    def _reload(self, path: Path, run_id: int | None, last_sig: Any, last_rows: dict[str, dict[str, Any]],
                logs_seen: int, started: float, generation: int) -> None:
        with self._readers_done:
            if self._closing:
                return
            self._readers += 1
        try:
            self._read_store(path, run_id, last_sig, last_rows, logs_seen, started, generation)
        finally:
            with self._readers_done:
                self._readers -= 1
                self._readers_done.notify_all()

    def _read_store(self, path: Path, run_id: int | None, last_sig: Any, last_rows: dict[str, dict[str, Any]],
                    logs_seen: int, started: float, generation: int) -> None:
        try:
            store = Store.open_readonly(path)
        except StoreError as exc:
            self.post_message(StoreUnavailable(str(exc), generation, started))
            return
        try:
            run = store.run(run_id)
            counts = store.counts(run.id)
            sig = (run.id, run.state, run.updated, tuple(sorted(counts.items())))
            logs = store.logs(run.id)[logs_seen:]
            table = changed = None
            if sig != last_sig:
                table = space_truths(results_table(store, run.id, self.registry), self.registry)
                same_run = last_sig is not None and last_sig[0] == run.id
                changed = changed_rows(last_rows, table.rows) if same_run else None
            total = len(table.rows) * len(table.evaluators) if table else 0
            self.post_message(StoreLoaded(Snapshot(run, counts, total, table, changed, logs, sig, time.monotonic() - started),
                                          generation))
        except (StoreError, sqlite3.Error) as exc:
            self.post_message(StoreUnavailable(str(exc), generation, started))
        finally:
            store.close()

    def on_store_loaded(self, message: StoreLoaded) -> None:
        snap = message.snapshot
        self._reload_busy = False
        self._next_reload = time.monotonic() + max(0.5, 3 * snap.seconds)
        if self.db_path is None or message.generation != self._generation:  # read before a new run began
            return
        self._read_ok_since = max(self._read_ok_since, time.monotonic() - snap.seconds)
        self.run_id = snap.run.id
        self._last_sig = snap.sig
        self._run_name, self._store_note = snap.run.name, ""
        if not self.running and snap.run.id != self._own_run:  # another process's run: its log is in the file
            # Following a run in progress, only its current session's lines: a resumed run's state
            # was set to running (``updated``) as that session began, so earlier lines, such as the
            # "run cancelled" of a session an earlier app stopped, are history, not news.
            since = snap.run.updated if snap.run.state == "running" else float("-inf")
            for at, level, text in snap.logs:
                if at >= since:
                    self.add_log(level, text)
        self._logs_seen += len(snap.logs)
        if snap.table is not None:
            self.table = snap.table
            if len(snap.table.rows) >= FREEZE_ROWS:
                gc.freeze()
            self._last_rows = {r["arch"]: r for r in snap.table.rows}
            self.table_version += 1
            self.changes.append((self.table_version, snap.changed))
            del self.changes[:-CHANGE_HISTORY]
            if self.chart_metric not in snap.table.columns:
                self.chart_metric = snap.table.default_sort() or next(iter(snap.table.score_columns()), None)
            if not self.running:
                self.progress.snapshot(snap.run.id, snap.total, snap.counts, snap.run.state)
                self.progress.device = snap.run.device_name
            elif snap.run.id == self._own_run:  # the file also counts what earlier sessions finished
                self.progress.counts = {k: v for k, v in snap.counts.items() if k != "running"}
        self._update_title()

    def on_store_unavailable(self, message: StoreUnavailable) -> None:
        self._reload_busy = False
        self._next_reload = time.monotonic() + 1.0
        if message.generation != self._generation or message.started < self._read_ok_since or self.running:
            return  # e.g. "no such results file" read before this app's run created it
        if self.progress.state in ("idle", "following"):
            self.progress.state = "waiting"
        self._store_note = message.message  # while this app's run starts, its file may not exist yet
        self._update_title()

    def changes_since(self, version: int) -> set[str] | None:
        """Architectures changed after table ``version`` (None: rebuild, the history is too short)."""
        out: set[str] = set()
        newer = [c for v, c in self.changes if v > version]
        if not newer or version < self.table_version - len(newer):
            return None
        for c in newer:
            if c is None:
                return None
            out |= c
        return out

    # -- detail -----------------------------------------------------------------------------
    def open_detail(self, arch: str) -> None:
        if self.db_path is None:
            return
        screen = DetailScreen(arch)
        self.push_screen(screen)
        self._load_detail(self.db_path, self.run_id, arch, screen)

    @work(thread=True, group="detail", exit_on_error=False)
    def _load_detail(self, path: Path, run_id: int | None, arch: str, screen: Screen) -> None:
        from rcx.tui.screens.detail import load_detail

        try:
            data = load_detail(path, run_id, arch, self.registry)
        except Exception as exc:  # a missing plugin or an unreadable file: shown in the detail
            data = {"error": f"{type(exc).__name__}: {exc}"}
        screen.post_message(DetailLoaded(arch, data))

    # -- correlation ---------------------------------------------------------------------------
    def compute_corr(self, table: ResultsTable, request: Any, version: int, screen: Screen) -> None:
        """Compute ``rcx analyze corr``'s report for ``request`` off the event loop; ``screen``
        gets a :class:`~rcx.tui.widgets.corr_view.CorrComputed`."""
        self._compute_corr(table, request, version, screen)

    @work(thread=True, group="corr", exit_on_error=False)
    def _compute_corr(self, table: ResultsTable, request: Any, version: int, screen: Screen) -> None:
        from rcx.tui.correlation import compute, describe_error
        from rcx.tui.widgets.corr_view import CorrComputed

        try:
            message = CorrComputed(request, version, compute(table, request))
        except Exception as exc:  # an unusable column (AnalysisError) or a bug: shown in the view
            message = CorrComputed(request, version, None, describe_error(exc))
        screen.post_message(message)

    # -- quitting, help, commands ---------------------------------------------------------------
    async def action_quit(self) -> None:
        if not self.running:
            self.exit(0)
            return

        def answer(stop: bool | None) -> None:
            if stop:
                self._quitting = True
                self.action_cancel_run()
                self.set_timer(5.0, lambda: self.exit(0))  # an evaluator that never checks cancel

        self.push_screen(ConfirmScreen(quit_prompt(self.db_path)), answer)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self._all_bindings()))

    def _all_bindings(self) -> list[tuple[str, list[tuple[str, str]]]]:
        from rcx.tui.screens.detail import DetailScreen as Detail

        groups = [("everywhere", self.BINDINGS)]
        groups += [(cls.__name__.removesuffix("Screen"), cls.BINDINGS)
                   for cls in (PlanScreen, RunScreen, ResultsScreen, Detail)]
        out = []
        for title, bindings in groups:
            rows = []
            for b in bindings:
                b = b if isinstance(b, Binding) else Binding(*b)
                rows.append((self.get_key_display(b), b.description))
            out.append((title, rows))
        return out

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Plan screen", "Choose the dataset, space, sampler and evaluators", lambda: self.switch_mode("plan"))
        yield SystemCommand("Run screen", "Progress, charts and the log", lambda: self.switch_mode("run"))
        yield SystemCommand("Results screen", "The results table", lambda: self.switch_mode("results"))
        yield SystemCommand("Help", "All key bindings", self.action_help)
        yield SystemCommand("Start run", "Validate the plan and run it", lambda: self._on_plan_screen("action_start_run"))
        yield SystemCommand("Save plan", "Write the plan as TOML", lambda: self._on_plan_screen("action_save"))
        yield SystemCommand("Pause / resume run", "Wait before the next evaluation, or go on", self.action_toggle_pause)
        yield SystemCommand("Cancel run", "Stop after the current batch (resumable)", self.action_cancel_run)
        yield SystemCommand("Export CSV", "Write the visible result rows to CSV", lambda: self._on_results_screen("action_export"))
        yield SystemCommand("Sort results", "Choose the sort column", lambda: self._on_results_screen("action_sort"))
        yield SystemCommand("Correlation view", "Pearson, Spearman and Kendall of two columns (as rcx analyze corr)",
                            lambda: self._on_results_screen("show_correlation"))
        yield SystemCommand("Filter results", "Filter by architecture and metric ranges",
                            lambda: self._on_results_screen("action_focus_filter"))

    def _on_plan_screen(self, action: str) -> None:
        self._on_screen("plan", action)

    def _on_results_screen(self, action: str) -> None:
        self._on_screen("results", action)

    def _on_screen(self, mode: str, action: str) -> None:
        """Switch to ``mode`` and run the screen's ``action`` once it is shown."""
        self.switch_mode(mode)
        self.call_after_refresh(lambda: getattr(self.screen, action)())
