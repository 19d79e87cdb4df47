"""The executor protocol: what :class:`~rcx.core.runner.Runner` asks of whatever runs its tasks.

The core only calls these methods on the object it is given (it never imports this package);
:func:`rcx.exec.build_runner` wires an executor to a runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from rcx.core.runner import Runner, Task


class Executor(Protocol):
    """Runs a run's tasks. ``execute`` reports through the runner (the driver and only writer
    of the results file): :meth:`Runner.task_started`, :meth:`Runner.record`,
    :meth:`Runner.curve_point`, :meth:`Runner.progress`, :meth:`Runner.emit`; it honours
    ``runner.cancel`` (raise :class:`~rcx.api.evaluator.Cancelled` after recording what
    finished) and ``runner.pause`` (no new task starts while it is set). Errors that stop the
    whole run are :class:`~rcx.core.runner.ExecutorError`."""

    name: str
    #: True when tasks run in the driver's process on the runner's own evaluators (prepared
    #: there); False when workers prepare their own.
    runs_here: bool

    def resolve_device(self, spec: str) -> torch.device:
        """The device (kind) the plan's ``device`` means for this executor's workers."""
        ...

    def device_name(self, device: torch.device) -> str:
        """A readable name of where the run computes, stored with the run."""
        ...

    def connect(self) -> None:
        """Reach the engine before the dataset loads (:class:`ExecutorError` when it cannot)."""
        ...

    def close(self) -> None:
        """Release workers and engine; the executor can connect again later."""
        ...

    def execute(self, runner: Runner, tasks: list[Task]) -> None:
        """Run ``tasks`` (one batch: a stage, or a search's proposals), reporting to ``runner``."""
        ...
