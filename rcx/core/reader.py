"""Reading a results file while a run (in this process or another) may be writing it.

:class:`StoreReader` is the read side for followers such as the TUI: every call opens its own
read-only connection (:meth:`Store.open_readonly <rcx.core.store.Store.open_readonly>`) and
closes it before returning, so it can run in any thread, and every failure, SQLite's own
included, is one :class:`~rcx.core.store.StoreError`. Nothing outside ``rcx.core`` touches
SQLite.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcx.core.results import ResultsTable, results_table
from rcx.core.store import RunInfo, Store, StoreError
from rcx.plugins import Registry


@dataclass
class RunRead:
    """What one read of a run found: the run, its evaluation counts per state, the log lines
    after the first ``logs_seen`` (``(time, level, message)``), a signature to compare the next
    read with, and the results table (None when the signature did not change)."""

    run: RunInfo
    counts: dict[str, int]
    logs: list[tuple[float, str, str]]
    sig: Any
    table: ResultsTable | None


@dataclass
class CandidateDetail:
    """One candidate of a run as stored: the run, the candidate's row (None when the run has
    no such candidate), its evaluations and its learning curves by evaluator instance."""

    run: RunInfo
    candidate: dict[str, Any] | None
    evaluations: list[dict[str, Any]]
    curves: dict[str, list[dict[str, Any]]]


class StoreReader:
    """Reads the results file ``path``; each method is one short read-only session."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _open(self) -> Store:
        return Store.open_readonly(self.path)

    def check(self) -> None:
        """:class:`StoreError` unless ``path`` is a readable rcx results file."""
        self._open().close()

    def plan_text(self) -> str | None:
        """The plan text of the file's latest run (None when the file has no readable run)."""
        stored = self.stored_plan()
        return stored[0] if stored else None

    def stored_plan(self) -> tuple[str, dict[str, Any]] | None:
        """The file's latest run's plan: its text and its normalised form (which holds what the
        plan read from other files: :func:`rcx.core.plan.file_ids`); None when the file has no
        readable run."""
        try:
            store = self._open()
        except StoreError:
            return None
        try:
            run = store.run()
            return run.plan_text, run.plan if isinstance(run.plan, dict) else {}
        except (StoreError, sqlite3.Error):
            return None
        finally:
            store.close()

    def read(self, run_id: int | None, registry: Registry, last_sig: Any = None, logs_seen: int = 0) -> RunRead:
        """Run ``run_id`` (None: the latest): counts, new log lines and, when anything changed
        since the read that returned ``last_sig``, its results table. :class:`StoreError` when
        the file cannot be read (no such file, no run in it, not an rcx file, damaged)."""
        store = self._open()
        try:
            run = store.run(run_id)
            counts = store.counts(run.id)
            sig = (run.id, run.state, run.updated, tuple(sorted(counts.items())))
            logs = store.logs(run.id)[logs_seen:]
            table = results_table(store, run.id, registry) if sig != last_sig else None
            return RunRead(run, counts, logs, sig, table)
        except sqlite3.Error as exc:  # e.g. locked: said as SQLite says it
            raise StoreError(str(exc)) from exc
        finally:
            store.close()

    def detail(self, run_id: int | None, arch: str) -> CandidateDetail:
        """Everything stored about candidate ``arch`` of run ``run_id`` (None: the latest)."""
        store = self._open()
        try:
            run = store.run(run_id)
            candidate = next((c for c in store.candidates(run.id) if c["arch"] == arch), None)
            evaluations = [e for e in store.evaluations(run.id) if e["arch"] == arch]
            curves = {ev: pts for (a, ev), pts in store.curves(run.id).items() if a == arch}
            return CandidateDetail(run, candidate, evaluations, curves)
        finally:
            store.close()

    def tidy(self) -> None:
        """Fold the file's ``-wal`` into it and remove ``-wal``/``-shm``, as a headless run's
        closing writer does. A follower's last connection to a file is often a read-only one,
        which cannot remove them; a read-write connection that opens the file and closes as the
        last one does (SQLite checkpoints on the last close). Another process still using the
        file keeps them, as it should."""
        if not Path(f"{self.path}-wal").exists():
            return
        try:
            conn = sqlite3.connect(self.path, timeout=1.0)
            try:
                conn.execute("PRAGMA schema_version").fetchone()  # opens the database and its WAL
            finally:
                conn.close()
        except sqlite3.Error:  # locked or not a database: nothing to tidy now
            pass
