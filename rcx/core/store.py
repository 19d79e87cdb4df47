"""The SQLite results store.

One file holds one or more runs. Per run: the plan (text, normalised JSON, hash), versions of
rcx, torch and every plugin, the device, the candidates with their architecture summary, and
one row per (architecture, evaluator) with its state, metrics, per-trial values, error text,
seed and timings, and the learning-curve points that training evaluators report per epoch.
WAL journaling; one writer connection (the runner's thread); every finished evaluation is
committed on its own, so a killed run loses at most the evaluations in flight.

Schema versions: 1 (runs, candidates, evaluations, log); 2 adds ``curves``. Opening a version-1
file for writing migrates it (the new table is created, nothing else changes); read-only
access to a version-1 file sees no curve points.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

SCHEMA_VERSION = 2
FINAL_STATES = ("done", "screened", "invalid", "failed", "diverged", "degenerate")
"""States that end an evaluation; ``running`` rows are in flight (or were, before a crash)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    plan_text TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    versions_json TEXT NOT NULL,
    device TEXT NOT NULL,
    device_name TEXT NOT NULL,
    dataset_json TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    arch TEXT NOT NULL,
    params_json TEXT NOT NULL,
    info_json TEXT NOT NULL,
    valid INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, arch)
);
CREATE TABLE IF NOT EXISTS evaluations (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    arch TEXT NOT NULL,
    evaluator TEXT NOT NULL,
    state TEXT NOT NULL,
    metrics_json TEXT NOT NULL DEFAULT '{}',
    trials_json TEXT NOT NULL DEFAULT '[]',
    extra_json TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    device TEXT NOT NULL DEFAULT '',
    started REAL,
    finished REAL,
    seconds REAL,
    PRIMARY KEY (run_id, arch, evaluator)
);
CREATE TABLE IF NOT EXISTS curves (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    arch TEXT NOT NULL,
    evaluator TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch REAL NOT NULL,
    metrics_json TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (run_id, arch, evaluator, step)
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    time REAL NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
"""


class StoreError(Exception):
    """The results file cannot be used (not an rcx database, newer schema, plan mismatch)."""


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    plan_text: str
    plan: dict[str, Any]
    plan_hash: str
    versions: dict[str, str]
    device: str
    device_name: str
    dataset: dict[str, Any]
    state: str
    created: float
    updated: float


class Store:
    """A results database. Open with :meth:`open` (read-write) or :meth:`open_readonly`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "Store":
        """Open or create ``path`` for writing (parent directories are created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            with conn:
                conn.executescript(_SCHEMA)
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) > SCHEMA_VERSION:
                    raise StoreError(f"{path}: written by a newer rcx (schema {row[0]} > {SCHEMA_VERSION}); upgrade rcx")
                elif int(row[0]) < SCHEMA_VERSION:  # 1 -> 2: the script above created `curves`
                    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path}: not an rcx results database ({exc})") from None
        return cls(conn, path)

    @classmethod
    def open_readonly(cls, path: str | Path) -> "Store":
        """Open an existing results file without writing to it (it may be in use by a run)."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"{path}: no such results file")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path}: not an rcx results database ({exc})") from None
        if row is None or int(row[0]) > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path}: not an rcx results database of schema <= {SCHEMA_VERSION}")
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    # -- runs ------------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        return [self._run(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY id")]

    def run(self, run_id: int | None = None) -> RunInfo:
        """The run ``run_id``, or the latest one."""
        if run_id is None:
            row = self.conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self.conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no run {run_id}" if run_id is not None else f"{self.path}: holds no run yet")
        return self._run(row)

    @staticmethod
    def _run(r: sqlite3.Row) -> RunInfo:
        return RunInfo(
            r["id"], r["name"], r["plan_text"], json.loads(r["plan_json"]), r["plan_hash"],
            json.loads(r["versions_json"]), r["device"], r["device_name"], json.loads(r["dataset_json"]),
            r["state"], r["created"], r["updated"],
        )

    def create_run(
        self, *, name: str, plan_text: str, plan: dict[str, Any], plan_hash: str, versions: dict[str, str],
        device: str, device_name: str, dataset: dict[str, Any],
    ) -> int:
        now = time.time()
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (name, plan_text, plan_json, plan_hash, versions_json, device, device_name,"
                " dataset_json, state, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (name, plan_text, json.dumps(plan, sort_keys=True, default=str), plan_hash, json.dumps(versions),
                 device, device_name, json.dumps(dataset), "running", now, now),
            )
        return int(cur.lastrowid)

    def set_run_state(self, run_id: int, state: str, **updates: Any) -> None:
        cols = {"state": state, "updated": time.time()}
        for key in ("versions", "device", "device_name"):
            if key in updates:
                cols[f"{key}_json" if key == "versions" else key] = (
                    json.dumps(updates[key]) if key == "versions" else updates[key]
                )
        assignments = ", ".join(f"{k}=?" for k in cols)
        with self.conn:
            self.conn.execute(f"UPDATE runs SET {assignments} WHERE id=?", (*cols.values(), run_id))

    # -- candidates ------------------------------------------------------------------------
    def add_candidates(self, run_id: int, rows: Iterable[tuple[int, str, dict, dict, bool, str]]) -> None:
        """Insert ``(idx, arch, params, info, valid, reason)`` rows; existing ones are kept."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO candidates VALUES (?,?,?,?,?,?,?)",
                ((run_id, i, a, json.dumps(p), json.dumps(inf), int(v), r) for i, a, p, inf, v, r in rows),
            )

    def candidates(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT idx, arch, params_json, info_json, valid, reason FROM candidates WHERE run_id=? ORDER BY idx",
            (run_id,),
        )
        return [
            {"idx": r[0], "arch": r[1], "params": json.loads(r[2]), "info": json.loads(r[3]), "valid": bool(r[4]), "reason": r[5]}
            for r in rows
        ]

    # -- evaluations -----------------------------------------------------------------------
    def finished_keys(self, run_id: int) -> set[tuple[str, str]]:
        """(arch, evaluator) pairs whose evaluation reached a final state."""
        marks = ",".join("?" * len(FINAL_STATES))
        rows = self.conn.execute(
            f"SELECT arch, evaluator FROM evaluations WHERE run_id=? AND state IN ({marks})", (run_id, *FINAL_STATES)
        )
        return {(a, e) for a, e in rows}

    def reset_unfinished(self, run_id: int, retry_failed: bool = False) -> int:
        """Forget evaluations left ``running`` by a crash (and ``failed`` ones if asked)."""
        states = ("running", "failed") if retry_failed else ("running",)
        marks = ",".join("?" * len(states))
        with self.conn:
            self.conn.execute(
                "DELETE FROM curves WHERE run_id=? AND (arch, evaluator) IN"
                f" (SELECT arch, evaluator FROM evaluations WHERE run_id=? AND state IN ({marks}))",
                (run_id, run_id, *states),
            )
            cur = self.conn.execute(
                f"DELETE FROM evaluations WHERE run_id=? AND state IN ({','.join('?' * len(states))})", (run_id, *states)
            )
        return cur.rowcount

    def start_evaluation(self, run_id: int, arch: str, evaluator: str, seed: int, device: str) -> None:
        """Mark an evaluation ``running``; curve points left by an earlier, unfinished attempt go."""
        with self.conn:
            self._clear_curve(run_id, arch, evaluator)
            self.conn.execute(
                "INSERT OR REPLACE INTO evaluations (run_id, arch, evaluator, state, seed, device, started)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, arch, evaluator, "running", seed, device, time.time()),
            )

    def finish_evaluation(
        self, run_id: int, arch: str, evaluator: str, state: str, *, metrics: dict[str, Any] | None = None,
        trials: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None, error: str = "",
        seconds: float | None = None, seed: int | None = None, device: str = "",
    ) -> None:
        """Record a final state (inserting the row if it was never started, e.g. ``invalid``)."""
        now = time.time()
        with self.conn:
            self.conn.execute(
                "INSERT INTO evaluations (run_id, arch, evaluator, state, metrics_json, trials_json, extra_json,"
                " error, seed, device, started, finished, seconds) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (run_id, arch, evaluator) DO UPDATE SET state=excluded.state,"
                " metrics_json=excluded.metrics_json, trials_json=excluded.trials_json, extra_json=excluded.extra_json,"
                " error=excluded.error, finished=excluded.finished, seconds=excluded.seconds,"
                " seed=COALESCE(excluded.seed, seed), device=CASE WHEN excluded.device='' THEN device ELSE excluded.device END",
                (run_id, arch, evaluator, state, json.dumps(metrics or {}), json.dumps(trials or []),
                 json.dumps(extra or {}, default=str), error, seed, device, now, now, seconds),
            )

    def cancel_evaluation(self, run_id: int, arch: str, evaluator: str) -> None:
        """Drop an in-flight row and its curve points (a cancelled evaluation is simply not done)."""
        with self.conn:
            self._clear_curve(run_id, arch, evaluator)
            self.conn.execute(
                "DELETE FROM evaluations WHERE run_id=? AND arch=? AND evaluator=? AND state='running'",
                (run_id, arch, evaluator),
            )

    def evaluations(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM evaluations WHERE run_id=? ORDER BY rowid", (run_id,))
        out = []
        for r in rows:
            d = dict(r)
            for key in ("metrics", "trials", "extra"):
                d[key] = json.loads(d.pop(f"{key}_json"))
            out.append(d)
        return out

    def counts(self, run_id: int) -> dict[str, int]:
        rows = self.conn.execute("SELECT state, COUNT(*) FROM evaluations WHERE run_id=? GROUP BY state", (run_id,))
        return {s: n for s, n in rows}

    # -- learning curves -------------------------------------------------------------------
    def add_curve_point(self, run_id: int, arch: str, evaluator: str, step: int, epoch: float,
                        metrics: dict[str, Any]) -> None:
        """Record one point of an evaluation's learning curve (``step``: optimiser steps so far)."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO curves (run_id, arch, evaluator, step, epoch, metrics_json, time)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, arch, evaluator, int(step), float(epoch), json.dumps(metrics), time.time()),
            )

    def curve(self, run_id: int, arch: str, evaluator: str) -> list[dict[str, Any]]:
        """One evaluation's points in step order: ``{"step", "epoch", **metrics}``."""
        return self._curve_rows("run_id=? AND arch=? AND evaluator=?", (run_id, arch, evaluator))

    def curves(self, run_id: int, evaluator: str | None = None) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Every curve of a run (or of one evaluator instance), keyed by (arch, evaluator)."""
        where, args = ("run_id=?", (run_id,)) if evaluator is None else ("run_id=? AND evaluator=?", (run_id, evaluator))
        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for point in self._curve_rows(where, args, with_keys=True):
            out.setdefault((point.pop("arch"), point.pop("evaluator")), []).append(point)
        return out

    def _curve_rows(self, where: str, args: tuple, with_keys: bool = False) -> list[dict[str, Any]]:
        try:
            rows = self.conn.execute(
                f"SELECT arch, evaluator, step, epoch, metrics_json FROM curves WHERE {where} ORDER BY arch, evaluator, step",
                args,
            ).fetchall()
        except sqlite3.OperationalError:  # a schema-1 file opened read-only has no curves table
            return []
        keys = ("arch", "evaluator") if with_keys else ()
        return [{**{k: r[k] for k in keys}, "step": r["step"], "epoch": r["epoch"], **json.loads(r["metrics_json"])}
                for r in rows]

    def _clear_curve(self, run_id: int, arch: str, evaluator: str) -> None:
        self.conn.execute("DELETE FROM curves WHERE run_id=? AND arch=? AND evaluator=?", (run_id, arch, evaluator))

    # -- log -------------------------------------------------------------------------------
    def log(self, run_id: int, level: str, message: str) -> None:
        with self.conn:
            self.conn.execute("INSERT INTO log (run_id, time, level, message) VALUES (?,?,?,?)", (run_id, time.time(), level, message))

    def logs(self, run_id: int) -> list[tuple[float, str, str]]:
        return [tuple(r) for r in self.conn.execute("SELECT time, level, message FROM log WHERE run_id=? ORDER BY id", (run_id,))]
