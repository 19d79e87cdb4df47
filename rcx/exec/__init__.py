"""Executors: how a run's tasks are computed. Never part of a plan and never a change of results.

``in-process`` (the default) evaluates one task after another in the calling thread;
``ray`` spreads them over Ray actors on one machine or a cluster (the optional extra
``pip install "rcx[ray]"``). The CLI and the TUI build the executor with
:func:`make_executor` and hand it to :class:`~rcx.core.runner.Runner`; the core never
imports this package, and nothing here imports Ray until the Ray executor is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rcx.exec.settings import EXECUTORS, RAY_MISSING, ExecutionSettings, ray_available

if TYPE_CHECKING:
    from rcx.core.runner import Executor


def make_executor(settings: ExecutionSettings | None = None) -> Executor:
    """The executor ``settings`` ask for; :class:`ExecutorError` when they are wrong or Ray is
    missing (one message). Building a Ray executor connects nothing yet: that happens when
    the run starts."""
    from rcx.core.runner import ExecutorError, InProcessExecutor

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


__all__ = ["EXECUTORS", "RAY_MISSING", "ExecutionSettings", "make_executor", "ray_available"]
