"""The App's own run: start it in a thread worker, pause, resume and cancel it, fold its events in.

:class:`RunController` assembles the run the same way as ``rcx run --headless``
(:func:`rcx.exec.build_runner`, :func:`rcx.core.session.run_plan`) in a thread worker owned by
the App. The worker only posts messages (:class:`~rcx.tui.messages.RunEvent`,
:class:`~rcx.tui.messages.RunError`); on the event loop the controller folds them into the
App's progress, log and live learning curves. The run's log lines also go to
``<results file>.log``.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.worker import Worker, WorkerState

from rcx.core import events as ev
from rcx.core.plan import Plan
from rcx.exec.settings import ExecutionSettings
from rcx.tui.messages import RunError, RunEvent
from rcx.tui.state import Progress

if TYPE_CHECKING:
    from rcx.tui.app import RcxApp


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


def event_log_line(event: ev.Event) -> tuple[str, str, bool] | None:
    """The log line ``(level, message, notify)`` a run event makes, if any."""
    if isinstance(event, ev.RunStarted):
        what = "resuming" if event.resumed else "started"
        return ("info", f"run {event.run_id} {what} on {event.device}: {event.total} evaluations ({event.candidates} "
                        f"candidates x {len(event.evaluators)} evaluators), {event.done} already done", False)
    if isinstance(event, ev.StageStarted):
        skipped = f", {event.skipped:,} skipped" if event.skipped else ""
        return ("info", f"stage {event.stage + 1}/{event.stages}: {event.rule}: {event.selected:,} candidates{skipped}",
                False)
    if isinstance(event, ev.Log):
        return event.level, event.message, False
    if isinstance(event, ev.RunFinished):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(event.counts.items()))
        word = "stopped (resumable)" if event.cancelled else "finished"
        return "info", f"run {event.run_id} {word} in {event.seconds:.1f} s: {counts}", True
    return None


class RunController:
    """Runs plans for ``app`` with the execution settings ``execution`` (the Plan screen's
    execution section, not part of the plan).

    ``cancel_event`` and ``pause_event`` are handed to the runner; ``job`` is the run worker;
    ``own_run`` the id of the run it writes (None before it started).
    """

    def __init__(self, app: RcxApp, execution: ExecutionSettings) -> None:
        self.app = app
        self.execution = execution
        self.cancel_event = threading.Event()
        self.pause_event = threading.Event()
        self.job: Worker | None = None
        self.own_run: int | None = None
        self.quitting = False  # the user quit during the run: the App exits when it ends
        self.log: logging.Logger | None = None  # <results>.log of this app's own run
        self._log_handler: logging.Handler | None = None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.state in (WorkerState.PENDING, WorkerState.RUNNING)

    def start(self, plan: Plan) -> None:
        """Start the run worker for ``plan``; the caller has reset what the App shows."""
        self.cancel_event.clear()
        self.pause_event.clear()
        self.close_log()
        self.log, self._log_handler = run_logger(plan.output)
        self.app.add_log("info", f"starting {plan.name!r}: results in {plan.output}, "
                                 f"log in {plan.output.with_suffix('.log')}")
        self.job = self.app.run_worker(partial(self._run, plan, self.log), thread=True, exclusive=True, group="run",
                                       exit_on_error=False)

    def close_log(self) -> None:
        if self.log is not None and self._log_handler is not None:
            self.log.removeHandler(self._log_handler)
            self._log_handler.close()
        self.log = self._log_handler = None

    def _run(self, plan: Plan, logger: logging.Logger) -> None:
        """The run worker (a thread); the App writes the log lines (``add_log``) to ``logger``'s
        file, this thread only a traceback, which the screen does not show."""
        from rcx.core.runner import ExecutorError, PlanMismatch
        from rcx.core.session import RUN_ERRORS, run_plan
        from rcx.exec import build_runner

        app = self.app

        def on_event(event: ev.Event) -> None:
            if not isinstance(event, ev.EvalProgress):
                app.post_message(RunEvent(event))

        try:
            runner = build_runner(plan, app.registry, self.execution, on_event=on_event, cancel=self.cancel_event,
                                  pause=self.pause_event)
        except ExecutorError as exc:
            app.post_message(RunError(str(exc)))
            return
        try:
            if self.execution.executor != "in-process":
                app.post_message(RunEvent(ev.Log("info", f"connecting: {self.execution.describe()}")))
            run_plan(runner)
        except PlanMismatch as exc:  # the core's message names the command line's --db and --new-run
            app.post_message(RunError(f"{exc.path} holds run {exc.run_id} ({exc.name!r}) of a different plan: "
                                      "set another output on the Plan screen (F2)", foreign_run=exc.run_id))
        except RUN_ERRORS as exc:
            app.post_message(RunError(str(exc)))
        except Exception as exc:  # a bug in a plugin or in rcx: logged with its traceback, never a crash
            logger.exception("run failed")
            app.post_message(RunError(f"{type(exc).__name__}: {exc} (traceback in {plan.output.with_suffix('.log')})"))

    # -- on the event loop ---------------------------------------------------------------------
    def on_event(self, event: ev.Event) -> None:
        """Fold one of the run's events into the App's progress, live learning curves and log."""
        app = self.app
        app.progress.apply(event)
        app.live_curves.apply(event)
        if self.pause_event.is_set() and app.progress.state == "running":
            app.progress.pause()
        if isinstance(event, ev.RunStarted):
            self.own_run = event.run_id
        line = event_log_line(event)
        if line is not None:
            app.add_log(line[0], line[1], notify=line[2])

    def on_error(self, message: str, foreign_run: int | None = None) -> None:
        """The run failed or did not start; refused by a file holding ``foreign_run`` (another
        plan's), the progress is this plan's again (nothing done), whatever a reload took from that run."""
        if foreign_run is not None:
            self.app.progress = Progress(state="failed")
        else:
            self.app.progress.state = "failed"
        self.app.add_log("error", message, notify=True)

    def toggle_pause(self) -> None:
        """Hold the run before its next evaluation, or let it go on."""
        app = self.app
        if self.pause_event.is_set():
            self.pause_event.clear()
            app.progress.resume()
            app.add_log("info", "resumed")
        else:
            self.pause_event.set()
            app.progress.pause()
            app.add_log("info", "pausing after the current evaluation")

    def cancel(self) -> None:
        """Stop the run after its current batch (it stays resumable)."""
        self.cancel_event.set()
        self.pause_event.clear()
        self.app.progress.state = "cancelling"
        self.app.add_log("warning", "cancelling after the current batch; the results file stays resumable")
