"""The rcx Textual app: Plan, Run and Results screens over the headless core.

The App composes the screens and key bindings, the log and the title; three helpers carry the
rest, each with one job: :class:`~rcx.tui.run_control.RunController` (this app's run: the run
worker, pause, cancel, its events), :class:`~rcx.tui.follower.StoreFollower` (the results file:
reloads in a worker, the latest table) and the detail and correlation workers below. Workers
only ``post_message``; the App folds the messages into plain state
(:class:`~rcx.tui.state.Progress`, the latest :class:`ResultsTable`, the log, live curves) and
the screens pull that state on their own timers, a few times a second. All reading of the
results file goes through the core's :class:`~rcx.core.reader.StoreReader`.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from rcx.core import events as ev
from rcx.core.plan import Plan
from rcx.core.reader import StoreReader
from rcx.core.results import ResultsTable
from rcx.exec.settings import ExecutionSettings
from rcx.plugins import Registry
from rcx.tui.follower import StoreFollower
from rcx.tui.forms import Component, PlanDraft
from rcx.tui.messages import DevicesListed, RunError, RunEvent, StoreLoaded, StoreUnavailable
from rcx.tui.run_control import RunController
from rcx.tui.screens.detail import DetailLoaded, DetailScreen
from rcx.tui.screens.dialogs import ConfirmScreen, HelpScreen, PathScreen
from rcx.tui.screens.plan import PlanScreen
from rcx.tui.screens.results import ResultsScreen
from rcx.tui.screens.run import RunScreen
from rcx.tui.state import LiveCurves, Progress

MAX_LOG_LINES = 2000


def quit_prompt(db_path: Path | None) -> str:
    """The question before quitting during a run, with the exact command that resumes it (the
    results file holds the plan, so it is enough, even for a plan edited in the form)."""
    if db_path is None:
        return "A run is in progress. Stop it and quit?"
    return (f"A run is in progress. Stop it and quit?\nFinished evaluations are saved in {db_path}; resume with\n"
            f"  rcx run --headless {shlex.quote(str(db_path))}")


def draft_from_results(path: Path) -> tuple[PlanDraft, str] | None:
    """The plan of the latest run in the results file ``path`` as a draft writing to ``path``,
    with the plan's text (None when the file has no readable run or plan). The ids its ``ids``
    sampler read from a file come with it (:attr:`PlanDraft.file_ids`): the run resumes without
    reading that file again."""
    import tomli

    from rcx.core.plan import file_ids

    stored = StoreReader(path).stored_plan()
    if stored is None:
        return None
    text, normalized = stored
    try:
        draft = PlanDraft.from_toml(text)
    except tomli.TOMLDecodeError:
        return None
    draft.output = str(path)
    sampler = normalized.get("sampler")
    ids = file_ids(sampler) if isinstance(sampler, dict) else None
    if ids is not None and isinstance(sampler, dict):
        draft.file_ids = (str(sampler["file"]), ids)
    return draft, text


def load_target(target: Path) -> tuple[PlanDraft | None, str | None, Path | None] | str:
    """What ``rcx TARGET`` opens: a plan file (``.toml``: its draft and text) or a results file
    (anything else: its path), as ``(draft, plan_text, db_path)``; or the one-line reason it
    cannot (a plan that cannot be read or parsed, a file that is not a results file). A plan
    with other problems opens: the form shows them."""
    import tomli

    from rcx.core.store import StoreError

    if target.suffix == ".toml":
        try:
            text = target.read_text(encoding="utf-8")
            return PlanDraft.from_toml(text, target), text, None
        except OSError as exc:
            return f"{target}: cannot read the plan: {exc.strerror}"
        except tomli.TOMLDecodeError as exc:
            return f"{target}: TOML syntax error: {exc}"
    try:
        StoreReader(target).check()
    except StoreError as exc:
        return str(exc)
    return None, None, target


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
        Binding("ctrl+o", "open", "Open a plan or results file", show=False),  # F1 and the palette list it
    ]

    def __init__(self, registry: Registry, draft: PlanDraft | None = None, plan_text: str | None = None,
                 db_path: Path | None = None, execution: ExecutionSettings | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.execution = execution or ExecutionSettings()  # the Plan screen's execution section (not the plan)
        loaded = draft_from_results(db_path) if draft is None and db_path is not None else None
        self.draft = draft or (loaded[0] if loaded else default_draft(registry))
        self.plan_text = plan_text  # the plan file's own text, run as it is when the form did not change it
        self.progress = Progress()
        self.live_curves = LiveCurves()  # learning curves of this app's run, as they stream
        self.log_lines: list[tuple[str, str]] = []
        self.log_dropped = 0
        self.run_control = RunController(self, self.execution)
        self.follower = StoreFollower(self, db_path)
        self._last_error_note = 0.0
        self.cuda_devices: list[tuple[str, str]] = []  # for the Plan screen, listed after the first frame
        self.reopen: tuple[PlanDraft | None, str | None, Path | None] | None = None  # ctrl+o: what to open next

    # -- state the screens read: the run's (RunController) and the results file's (StoreFollower) --
    @property
    def db_path(self) -> Path | None:
        return self.follower.db_path

    @property
    def run_id(self) -> int | None:
        """The run shown (None: the latest run in the file)."""
        return self.follower.run_id

    @property
    def table(self) -> ResultsTable | None:
        return self.follower.table

    @property
    def table_version(self) -> int:
        return self.follower.table_version

    @property
    def changes(self) -> list[tuple[int, set[str] | None]]:
        return self.follower.changes

    @property
    def chart_metric(self) -> str | None:
        return self.follower.chart_metric

    @chart_metric.setter
    def chart_metric(self, metric: str | None) -> None:
        self.follower.chart_metric = metric

    @property
    def _reload_busy(self) -> bool:
        return self.follower.busy

    def changes_since(self, version: int) -> set[str] | None:
        """Architectures changed after table ``version`` (None: rebuild, the history is too short)."""
        return self.follower.changes_since(version)

    @property
    def job(self) -> Worker | None:
        return self.run_control.job

    @property
    def cancel_event(self):  # threading.Event
        return self.run_control.cancel_event

    @property
    def pause_event(self):  # threading.Event, or a stand-in a test sets before the run starts
        return self.run_control.pause_event

    @pause_event.setter
    def pause_event(self, event) -> None:
        self.run_control.pause_event = event

    @property
    def running(self) -> bool:
        return self.run_control.running

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
        screen = self.screen_stack[-1] if self.screen_stack else None  # none left once the app is closing
        if isinstance(screen, PlanScreen):
            screen.show_devices()

    def on_unmount(self) -> None:
        self.run_control.close_log()
        self.follower.close()

    def on_print(self, event: events.Print) -> None:
        text = event.text.strip()
        if text:
            self.add_log("warning" if event.stderr else "info", f"output: {text}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pause and cancel only while this app runs a plan (not when following a file)."""
        if action in ("toggle_pause", "cancel_run"):
            return self.running
        return True

    def is_settled(self) -> bool:
        """True when what the screen shows has stopped changing: the results file read (when
        one is open), no reload, detail or correlation worker busy, and the current screen up to
        date with the App's state (its ``is_settled``). Tests take snapshots then."""
        if self.db_path is not None and self.table is None and not self.follower.note:
            return False
        if self._reload_busy or any(w.group in ("reload", "detail", "corr", "devices") and w.state in
                                    (WorkerState.PENDING, WorkerState.RUNNING) for w in self.workers):
            return False
        check = getattr(self.screen, "is_settled", None)
        return bool(check()) if check is not None else True

    def _update_title(self) -> None:
        """``<results file>  run N (name, state)``, the state as this app sees it (paused,
        cancelling) rather than the file's ``running``; while a run starts, ``starting``."""
        name, note = self.follower.run_name, self.follower.note
        if self.db_path is None:
            self.sub_title = ""
        elif self.progress.state == "failed" and self.run_control.own_run is None and not self.running:
            self.sub_title = f"{self.db_path}  the run did not start (F3: the log says why)"  # not the file's run
        elif note and not self.running:
            self.sub_title = note
        elif self.run_id is None:
            self.sub_title = f"{self.db_path}  starting {name!r}" if self.running else str(self.db_path)
        else:
            self.sub_title = f"{self.db_path}  run {self.run_id} ({name}, {self.progress.state})"

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
        run_log = self.run_control.log
        if run_log is not None:
            run_log.log(logging.getLevelName(level.upper()), message)
        now = time.monotonic()
        if self._log_shown() and level != "error":
            return
        if notify or (level == "error" and now - self._last_error_note > 2.0):
            self._last_error_note = now
            severity: SeverityLevel = ("error" if level == "error" else "warning" if level == "warning"
                                       else "information")
            self.notify(message, severity=severity, timeout=8 if level == "error" else 4)

    def _log_shown(self) -> bool:
        """Whether the Run screen, with the log, is the one shown."""
        try:
            return isinstance(self.screen, RunScreen)
        except ScreenStackError:  # before the first screen
            return False

    # -- running (RunController) ----------------------------------------------------------------
    def start_run(self, plan: Plan) -> None:
        """Run ``plan`` in the background (resuming it when its results file holds it)."""
        if self.running:
            self.notify("a run is already in progress", severity="warning")
            return
        self.follower.reset(plan.output)
        self.progress = Progress(state="loading")
        self.live_curves = LiveCurves()
        self.follower.run_name, self.follower.note = plan.name, ""
        self.run_control.start(plan)
        self._update_title()
        self.refresh_bindings()
        self.switch_mode("run")

    def on_run_event(self, message: RunEvent) -> None:
        event = message.event
        self.run_control.on_event(event)
        if isinstance(event, ev.RunStarted):
            self.follower.run_id = event.run_id
        self.follower.dirty = True
        self._update_title()

    def on_run_error(self, message: RunError) -> None:
        if message.foreign_run is not None:
            self.follower.refused(message.foreign_run)
        self.run_control.on_error(message.message, message.foreign_run)
        self._update_title()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.job and event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            if event.state == WorkerState.ERROR:
                self.add_log("error", f"run worker: {event.worker.error}", notify=True)
            self.run_control.close_log()
            self.follower.dirty = True
            self._update_title()
            self.refresh_bindings()
            if self.run_control.quitting:
                self.exit(0)

    def action_toggle_pause(self) -> None:
        if not self.running:
            self.notify("no run in progress", severity="warning")
            return
        self.run_control.toggle_pause()
        self._update_title()

    def action_cancel_run(self) -> None:
        if not self.running:
            self.notify("no run in progress", severity="warning")
            return
        self.run_control.cancel()
        self._update_title()

    # -- the results file (StoreFollower) -------------------------------------------------------
    def _poll_store(self) -> None:
        self.follower.poll(self.running)

    def on_store_loaded(self, message: StoreLoaded) -> None:
        if self.follower.loaded(message, self.run_control.own_run, self.running):
            self._update_title()

    def on_store_unavailable(self, message: StoreUnavailable) -> None:
        if self.follower.unavailable(message, self.running):
            self._update_title()

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
                self.run_control.quitting = True
                self.action_cancel_run()
                self.set_timer(5.0, lambda: self.exit(0))  # an evaluator that never checks cancel

        self.push_screen(ConfirmScreen(quit_prompt(self.db_path)), answer)

    def action_open(self) -> None:
        """Ask for a plan (``.toml``) or results file and open it as ``rcx FILE`` does: this app
        ends (:attr:`reopen` says what :func:`rcx.tui.main` opens next). Not during a run."""
        if self.running:
            self.notify("a run is in progress: cancel it (c on F3) before opening another file", severity="warning")
            return

        def chosen(path: str | None) -> None:
            if not path:
                return
            loaded = load_target(Path(path).expanduser())
            if isinstance(loaded, str):
                self.notify(loaded, severity="error", timeout=8)
                return
            self.reopen = loaded
            self.exit(0)

        self.push_screen(PathScreen("Open a results file (.db) or a plan (.toml):", str(self.db_path or "")), chosen)

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
        yield SystemCommand("Plan screen", "Choose the dataset, space, sampler and evaluators",
                            lambda: self.switch_mode("plan"))
        yield SystemCommand("Run screen", "Progress, charts and the log", lambda: self.switch_mode("run"))
        yield SystemCommand("Results screen", "The results table", lambda: self.switch_mode("results"))
        yield SystemCommand("Help", "All key bindings", self.action_help)
        yield SystemCommand("Open file", "Open a results file (.db) or a plan (.toml)", self.action_open)
        yield SystemCommand("Start run", "Validate the plan and run it",
                            lambda: self._on_plan_screen("action_start_run"))
        yield SystemCommand("Save plan", "Write the plan as TOML", lambda: self._on_plan_screen("action_save"))
        yield SystemCommand("Pause / resume run", "Wait before the next evaluation, or go on", self.action_toggle_pause)
        yield SystemCommand("Cancel run", "Stop after the current batch (resumable)", self.action_cancel_run)
        yield SystemCommand("Export CSV", "Write the visible result rows to CSV",
                            lambda: self._on_results_screen("action_export"))
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
