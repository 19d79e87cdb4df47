"""The default executor: every task in the driver's own thread, on the plan's device."""

from __future__ import annotations

import torch

from rcx.core.device import device_name, resolve_device
from rcx.core.runner import Runner, Task


class InProcessExecutor:
    """One task after another in the calling thread, on the runner's prepared evaluators
    (:meth:`Runner.execute_here <rcx.core.runner.Runner.execute_here>`, the runner's own path)."""

    name = "in-process"
    runs_here = True

    def resolve_device(self, spec: str) -> torch.device:
        return resolve_device(spec)

    def device_name(self, device: torch.device) -> str:
        return device_name(device)

    def connect(self) -> None:
        """Nothing to reach."""

    def close(self) -> None:
        """Nothing to release."""

    def execute(self, runner: Runner, tasks: list[Task]) -> None:
        runner.execute_here(tasks)
