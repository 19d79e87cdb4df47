"""Executors: how a run's tasks are computed. Never part of a plan and never a change of results.

``in-process`` (the default, :class:`~rcx.exec.in_process.InProcessExecutor`) evaluates one
task after another in the calling thread; ``ray`` spreads them over Ray actors on one machine
or a cluster (the optional extra ``pip install "rcx[ray]"``). Both follow the
:class:`~rcx.exec.base.Executor` protocol. The CLI and the TUI assemble a run with
:func:`build_runner` (the executor the settings ask for, wired to a
:class:`~rcx.core.runner.Runner`); the core never imports this package, and nothing here
imports Ray until the Ray executor is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from rcx.exec.base import Executor
from rcx.exec.settings import EXECUTORS, RAY_MISSING, ExecutionSettings, ray_available

if TYPE_CHECKING:
    from rcx.core import events as ev
    from rcx.core.plan import Plan
    from rcx.core.runner import Runner
    from rcx.plugins import Registry


def make_executor(settings: ExecutionSettings | None = None) -> Executor:
    """The executor ``settings`` ask for; :class:`~rcx.core.runner.ExecutorError` when they are
    wrong or Ray is missing (one message). Building a Ray executor connects nothing yet: that
    happens when the run starts."""
    from rcx.core.runner import ExecutorError
    from rcx.exec.in_process import InProcessExecutor

    settings = settings or ExecutionSettings()
    problems = settings.problems()
    if problems:
        raise ExecutorError("; ".join(problems))
    if settings.executor == "in-process":
        return InProcessExecutor()
    if not ray_available():
        raise ExecutorError(RAY_MISSING)
    from rcx.exec.ray_executor import RayExecutor

    return RayExecutor(settings)


def build_runner(plan: Plan, registry: Registry, execution: ExecutionSettings | Executor | None = None, *,
                 on_event: Callable[[ev.Event], None] = lambda e: None, cancel: threading.Event | None = None,
                 pause: threading.Event | None = None, threads: int | None = None) -> Runner:
    """The one assembly of a run, for the CLI and the TUI: a :class:`~rcx.core.runner.Runner` of
    ``plan`` with the executor ``execution`` names (settings, or an executor already made with
    :func:`make_executor`; None: in-process). ``on_event`` gets the run's events, ``cancel`` and
    ``pause`` stop and hold it, ``threads`` sets torch's CPU threads (None: ``$RCX_THREADS`` or
    automatic). Raises :class:`~rcx.core.runner.ExecutorError` for wrong settings or a missing
    Ray; run it with :func:`rcx.core.session.run_plan`."""
    from rcx.core.runner import Runner

    executor = execution if execution is not None and not isinstance(execution, ExecutionSettings) \
        else make_executor(execution)
    return Runner(plan, registry, on_event=on_event, cancel=cancel, executor=executor, pause=pause, threads=threads)


__all__ = ["EXECUTORS", "RAY_MISSING", "ExecutionSettings", "Executor", "build_runner", "make_executor",
           "ray_available"]
