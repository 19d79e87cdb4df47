"""Following the results file: the App's latest table, reloaded off the event loop.

:class:`StoreFollower` owns everything about reading the results file the App shows: when to
reload (a run here changed it, or another process's run may have), the reload itself in a thread
worker through the core's :class:`~rcx.core.reader.StoreReader` (the TUI never opens SQLite),
and folding what it read into the App's state (the table, which rows changed, the run's counts,
a followed run's log lines).
"""

from __future__ import annotations

import gc
import threading
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcx.analysis.truth import space_truths
from rcx.core.reader import StoreReader
from rcx.core.results import ResultsTable
from rcx.core.store import StoreError
from rcx.tui.messages import Snapshot, StoreLoaded, StoreUnavailable
from rcx.tui.state import changed_rows

if TYPE_CHECKING:
    from rcx.tui.app import RcxApp

CHANGE_HISTORY = 64  # table reloads remembered for screens that pull changes late
FREEZE_ROWS = 5000
"""From this many rows on, a loaded table is moved out of the cyclic garbage collector's reach
(:func:`gc.freeze`): otherwise every full collection walks its million objects, a 150-250 ms
pause of the event loop. Tables hold no reference cycles, so a replaced one is still freed by
reference counting."""


class StoreFollower:
    """The results file ``db_path`` as the App shows it (None: no file yet).

    State the screens read through the App: ``table`` (the latest
    :class:`~rcx.core.results.ResultsTable`, truth columns joined), ``table_version`` (one up
    per new table), ``changes`` (``(version, changed arch ids or None)`` of recent tables),
    ``chart_metric`` and ``run_id`` (the run shown; None: the latest).
    """

    def __init__(self, app: RcxApp, db_path: Path | None) -> None:
        self.app = app
        self.db_path = db_path
        self.run_id: int | None = None
        self.table: ResultsTable | None = None
        self.table_version = 0
        self.changes: list[tuple[int, set[str] | None]] = []
        self.chart_metric: str | None = None
        self.run_name = ""  # the shown run's name, for the title
        self.note = ""  # why the results file cannot be read (shown in the title)
        self.foreign_run: int | None = None  # the file's run of another plan, which refused this app's run
        self.dirty = db_path is not None
        self.busy = False  # a reload is under way
        self._readers = 0  # read-only connections the reload thread holds open (0 or 1)
        self._closing = False  # the App is unmounting: no new reads
        self._readers_done = threading.Condition()
        self._next_reload = 0.0
        self._last_sig: Any = None
        self._last_rows: dict[str, dict[str, Any]] = {}
        self._logs_seen = 0
        self._generation = 0  # results files opened so far: a reload of an earlier one is ignored
        self._read_ok_since = 0.0  # start of the latest successful read of the results file

    def reset(self, db_path: Path | None) -> None:
        """Follow ``db_path`` from now on (a new run here): everything read before is stale."""
        self.db_path, self.run_id, self.table, self._last_sig, self._last_rows = db_path, None, None, None, {}
        self.foreign_run = None
        self.table_version += 1
        self.changes.append((self.table_version, None))
        self._logs_seen, self.dirty = 0, True
        self._generation += 1

    def refused(self, foreign_run: int) -> None:
        """This app's run was refused by the file's run ``foreign_run`` of another plan: that
        run's rows are not this plan's results, so the screens show none (now or on reloads)."""
        self.foreign_run = foreign_run
        self.note = f"{self.db_path} holds run {foreign_run} of another plan; its rows are not shown"
        if self.table is not None:
            self.table, self._last_rows = None, {}
            self.table_version += 1
            self.changes.append((self.table_version, None))

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

    # -- reloading ------------------------------------------------------------------------------
    def poll(self, running: bool) -> None:
        """Reload the results file when a run here changed it, or (following another process's
        run: ``running`` off) check it; reloads wait at least three times as long as the
        previous one took."""
        now = time.monotonic()
        if self.db_path is None or self.busy or now < self._next_reload:
            return
        if not (self.dirty or not running):
            return
        self.dirty = False
        self.busy = True
        self.app.run_worker(partial(self._reload, self.db_path, self.run_id, self._last_sig, self._last_rows,
                                    self._logs_seen, now, self._generation),
                            thread=True, exclusive=True, group="reload", exit_on_error=False)

    def _reload(self, path: Path, run_id: int | None, last_sig: Any, last_rows: dict[str, dict[str, Any]],
                logs_seen: int, started: float, generation: int) -> None:
        """The reload worker (a thread): reads, then posts :class:`StoreLoaded` or
        :class:`StoreUnavailable` to the App."""
        with self._readers_done:
            if self._closing:
                return
            self._readers += 1
        try:
            self.app.post_message(self._read(path, run_id, last_sig, last_rows, logs_seen, started, generation))
        finally:
            with self._readers_done:
                self._readers -= 1
                self._readers_done.notify_all()

    def _read(self, path: Path, run_id: int | None, last_sig: Any, last_rows: dict[str, dict[str, Any]],
              logs_seen: int, started: float, generation: int) -> StoreLoaded | StoreUnavailable:
        registry = self.app.registry
        try:
            read = StoreReader(path).read(run_id, registry, last_sig, logs_seen)
        except StoreError as exc:
            return StoreUnavailable(str(exc), generation, started)
        table = changed = None
        if read.table is not None:
            table = space_truths(read.table, registry)
            same_run = last_sig is not None and last_sig[0] == read.run.id
            changed = changed_rows(last_rows, table.rows) if same_run else None
        total = len(table.rows) * len(table.evaluators) if table else 0
        return StoreLoaded(Snapshot(read.run, read.counts, total, table, changed, read.logs, read.sig,
                                    time.monotonic() - started), generation)

    def close(self) -> None:
        """The App is closing: wait (bounded) for a reload still reading, start none, and tidy
        the file's ``-wal``/``-shm`` away."""
        with self._readers_done:
            self._closing = True
            self._readers_done.wait_for(lambda: self._readers == 0, timeout=5.0)
        if self.db_path is not None:
            StoreReader(self.db_path).tidy()

    # -- folding a read in ---------------------------------------------------------------------
    def loaded(self, message: StoreLoaded, own_run: int | None, running: bool) -> bool:
        """Take a finished reload in (``own_run``: the run this App runs, ``running``: whether it
        still does); False when it was stale and ignored."""
        app, snap = self.app, message.snapshot
        self.busy = False
        self._next_reload = time.monotonic() + max(0.5, 3 * snap.seconds)
        if self.db_path is None or message.generation != self._generation:  # read before a new run began
            return False
        self._read_ok_since = max(self._read_ok_since, time.monotonic() - snap.seconds)
        if snap.run.id == self.foreign_run:  # another plan's run, which refused this app's: not shown
            self._last_sig = snap.sig
            self._logs_seen += len(snap.logs)
            return True
        self.run_id = snap.run.id
        self._last_sig = snap.sig
        self.run_name, self.note = snap.run.name, ""
        if not running and snap.run.id != own_run:  # another process's run: its log is in the file
            # Following a run in progress, only its current session's lines: a resumed run's state
            # was set to running (``updated``) as that session began, so earlier lines, such as the
            # "run cancelled" of a session an earlier app stopped, are history, not news.
            since = snap.run.updated if snap.run.state == "running" else float("-inf")
            for at, level, text in snap.logs:
                if at >= since:
                    app.add_log(level, text)
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
            if not running:
                app.progress.snapshot(snap.run.id, snap.total, snap.counts, snap.run.state)
                app.progress.device = snap.run.device_name
            elif snap.run.id == own_run:  # the file also counts what earlier sessions finished
                app.progress.counts = {k: v for k, v in snap.counts.items() if k != "running"}
        return True

    def unavailable(self, message: StoreUnavailable, running: bool) -> bool:
        """A reload found no readable file (yet); False when that is stale news, ignored."""
        self.busy = False
        self._next_reload = time.monotonic() + 1.0
        if message.generation != self._generation or message.started < self._read_ok_since or running:
            return False  # e.g. "no such results file" read before this app's run created it
        progress = self.app.progress
        if progress.state in ("idle", "following"):
            progress.state = "waiting"
        self.note = message.message  # while this app's run starts, its file may not exist yet
        return True
