"""Messages the App's thread workers post to the event loop (workers never touch widgets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from rcx.core import events as ev
from rcx.core.results import ResultsTable
from rcx.core.store import RunInfo


class RunEvent(Message):
    """A runner event, forwarded from the run worker."""

    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event


class DevicesListed(Message):
    """The CUDA devices torch sees, ``(label, value)`` pairs (empty without CUDA)."""

    def __init__(self, devices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.devices = devices


class RunError(Message):
    """The run could not start or stopped on an error outside any single evaluation;
    ``foreign_run``: the run of another plan that the results file holds, when that refused it."""

    def __init__(self, message: str, foreign_run: int | None = None) -> None:
        super().__init__()
        self.message = message
        self.foreign_run = foreign_run


@dataclass
class Snapshot:
    """What one read of the results file found."""

    run: RunInfo
    counts: dict[str, int]
    total: int
    table: ResultsTable | None  # None: nothing changed since the last read
    changed: set[str] | None  # architectures whose rows changed (None: all)
    logs: list[tuple[float, str, str]]
    sig: Any  # what the next read compares with to skip an unchanged file
    seconds: float  # how long the read took


class StoreLoaded(Message):
    """A reload of the results file finished (``generation``: the App's results file when it started)."""

    def __init__(self, snapshot: Snapshot, generation: int = 0) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.generation = generation


class StoreUnavailable(Message):
    """The results file cannot be read (yet): no such file, no run in it, not an rcx file."""

    def __init__(self, message: str, generation: int = 0, started: float = 0.0) -> None:
        super().__init__()
        self.message = message
        self.generation = generation
        self.started = started  # when the read began (monotonic s): older than a successful read, it is stale
