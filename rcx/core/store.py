"""The SQLite results store.

One file holds one or more runs. Per run: the plan (text, normalised JSON, hash), versions of
rcx, torch and every plugin, the device, the candidates with their architecture summary, and
one row per (architecture, evaluator) with its status, metrics, per-trial values, error text,
seed and timings, and the learning-curve points that training evaluators report per epoch.
WAL journaling; one writer connection (the runner's thread); every finished evaluation is
committed on its own, so a killed run loses at most the evaluations in flight.

Schema versions: 1 (runs, candidates, evaluations, log); 2 adds ``curves``; 3 adds the
evaluations' ``cpu_s`` (CPU seconds of the evaluation, :func:`rcx.core.runner.evaluate_one`).
Opening an older file for writing migrates it (the new table and column are created, nothing
else changes; evaluations recorded before have ``cpu_s`` NULL); read-only access to an older
file sees no curve points and ``cpu_s`` None.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

try:
    import fcntl
except ImportError:  # not POSIX: no writer lock
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 3
FINAL_STATES = ("done", "screened", "invalid", "failed", "diverged", "degenerate", "skipped")
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
    state TEXT NOT NULL,  -- the evaluation's status; Store.evaluations() names it "status"
    metrics_json TEXT NOT NULL DEFAULT '{}',
    trials_json TEXT NOT NULL DEFAULT '[]',
    extra_json TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    device TEXT NOT NULL DEFAULT '',
    started REAL,
    finished REAL,
    seconds REAL,
    cpu_s REAL,  -- CPU seconds (core-seconds) of the evaluation; NULL: not measured (schema < 3)
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
    """The results file cannot be used (not an rcx database, newer schema, plan mismatch,
    damaged, not writable, in use by another run)."""


class StoreBusy(StoreError):
    """Another process is writing the results file (it holds the writer lock)."""


class UnstorableValue(ValueError):
    """A metric, trial or extra value that JSON cannot represent; the message names it."""


_MAX_DEPTH = 64  # nesting accepted in trials/extra (deeper: unstorable, e.g. a list that holds itself)


def plain_json(value: Any, where: str, lenient: bool = False, _depth: int = 0) -> Any:
    """``value`` as plain JSON data: non-finite floats become None (stored as ``null``),
    one-element tensors and numpy scalars become Python numbers, tensors/arrays become lists,
    tuples lists, dict keys strings. Anything else raises :class:`UnstorableValue` naming
    ``where`` (the key path), or with ``lenient`` becomes its ``str()``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if _depth >= _MAX_DEPTH:
        raise UnstorableValue(f"{where}: nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                if not lenient:
                    raise UnstorableValue(f"{where}: key {k!r} is not a string")
                k = str(k)
            out[str(k)] = plain_json(v, f"{where}.{k}", lenient, _depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [plain_json(v, f"{where}[{i}]", lenient, _depth + 1) for i, v in enumerate(value)]
    tolist = getattr(value, "tolist", None)  # torch.Tensor, numpy arrays and scalars
    if callable(tolist) and hasattr(value, "dtype"):
        try:
            items = tolist()
        except Exception as exc:  # e.g. a tensor on a device that is gone
            raise UnstorableValue(f"{where}: {type(value).__name__} cannot be read ({exc})") from None
        if not isinstance(items, (list, tuple, dict)) and type(items) is type(value):
            return _unstorable(value, where, lenient)  # tolist gave back the same kind of object
        return plain_json(items, where, lenient, _depth + 1)
    return _unstorable(value, where, lenient)


def _unstorable(value: Any, where: str, lenient: bool) -> str:
    if lenient:
        return str(value)
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    raise UnstorableValue(f"{where}: a {type(value).__name__} ({text}) cannot be stored as JSON")


def _dumps(value: Any, where: str, lenient: bool = False) -> str:
    """JSON text of ``value`` after :func:`plain_json` (so never ``NaN``/``Infinity``)."""
    return json.dumps(plain_json(value, where, lenient), allow_nan=False)


def _schema(value: Any) -> int:
    """The schema version stored in ``meta``; StoreError when it is not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StoreError(f"not an rcx results database (schema_version {value!r})") from None


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring an older file's tables to :data:`SCHEMA_VERSION` (inside the open transaction;
    ``curves`` is created by the schema script): 2 -> 3 adds ``evaluations.cpu_s``."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(evaluations)")}
    if "cpu_s" not in columns:
        conn.execute("ALTER TABLE evaluations ADD COLUMN cpu_s REAL")


_F = TypeVar("_F", bound=Callable[..., Any])


def _db_errors(method: _F) -> _F:
    """Turn SQLite errors (and unreadable stored JSON) raised by a :class:`Store` method into one
    clear :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise StoreError(describe_sqlite_error(self.path, exc)) from None
        except json.JSONDecodeError as exc:  # a stored JSON column edited or damaged by hand
            raise StoreError(f"{self.path}: the results file is damaged (a stored JSON value: {exc})") from None

    return wrapper  # type: ignore[return-value]


def describe_sqlite_error(path: Path, exc: sqlite3.Error) -> str:
    """One message for an SQLite error on the results file ``path``."""
    text = str(exc)
    low = text.lower()
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return (f"{path}: the results file is damaged ({text}); restore it from a copy, or write to a new file "
                "with --db (`sqlite3 FILE .recover` may save what is left)")
    if "readonly" in low or "read-only" in low:
        return f"{path}: cannot write to the results file ({text}); check the permissions of the file and its folder"
    if "full" in low or "i/o" in low:
        return f"{path}: cannot use the results file ({text}); check the disk"
    if "locked" in low or "busy" in low:
        return f"{path}: the results file stayed locked by another process ({text})"
    return f"{path}: cannot use the results file ({type(exc).__name__}: {text})"


def _size(path: Path) -> int:
    """Bytes in ``path`` (-1 when it does not exist or cannot be read)."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """:class:`StoreError` ("damaged") unless SQLite's integrity check of ``conn``'s database
    passes. Reads the whole file once (about 0.15 s for 70 MB here); writes nothing."""
    try:
        row = conn.execute("PRAGMA integrity_check(1)").fetchone()
    except sqlite3.DatabaseError as exc:
        low = str(exc).lower()
        if "not a database" in low:
            raise StoreError(f"{path}: not an rcx results database ({exc})") from None
        raise StoreError(describe_sqlite_error(path, exc)) from None
    if row is None or row[0] != "ok":
        raise StoreError(describe_sqlite_error(path, sqlite3.DatabaseError(
            f"integrity check: {row[0] if row else 'no answer'}; database disk image is malformed")))


class WriterLock:
    """The exclusive right to write one results file, held by one process at a time.

    An OS file lock (``flock``) on ``<results file>.lock``: the kernel releases it when the
    holder exits, however it dies (SIGKILL included), so a dead run never blocks a resume.
    The file records the holder (pid, host, start time) for the message the next writer gets.
    Re-entrant within a process (the CLI and the TUI open the store more than once per run);
    readers take no lock. Without ``fcntl`` (not POSIX) nothing is locked.
    """

    _held: dict[str, list[Any]] = {}  # lock path -> [fd, holders in this process]
    _guard = threading.Lock()

    def __init__(self, db: str | Path) -> None:
        self.db = Path(db)
        self.path = Path(f"{self.db}.lock")
        self._key = str(self.path.absolute())
        self._active = False

    def acquire(self) -> WriterLock:
        """Take the lock, or raise :class:`StoreBusy` naming the holder (:class:`StoreError`
        when the results file's folder cannot be written)."""
        if self.db.is_dir():
            raise StoreError(f"{self.db}: is a folder; give a results file path such as {self.db / 'results.db'}")
        if self.db.exists() and not self.db.is_file():
            raise StoreError(f"{self.db}: is not a regular file; give a results file path such as runs/NAME.db")
        if fcntl is None:
            return self
        with self._guard:
            held = self._held.get(self._key)
            if held is not None:
                held[1] += 1
                self._active = True
                return self
            try:
                self.db.parent.mkdir(parents=True, exist_ok=True)
                fd = self._lock_fd()
            except OSError as exc:
                raise StoreError(f"{self.db}: cannot write in {self.db.parent} ({exc.strerror}); "
                                 "choose another results file with --db") from None
            self._held[self._key] = [fd, 1]
            self._active = True
        return self

    def _lock_fd(self) -> int:
        """A descriptor of the lock file holding the lock (retries if the file was replaced)."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 4096).decode("utf-8", "replace")
                os.close(fd)
                raise StoreBusy(self._busy_message(holder)) from None
            except OSError:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:  # the previous holder removed it between our open and flock
                same = False
            if same:
                info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
                os.ftruncate(fd, 0)
                os.pwrite(fd, info.encode(), 0)
                return fd
            os.close(fd)

    def _busy_message(self, holder: str) -> str:
        try:
            info = json.loads(holder)
            since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(float(info["since"])))
            who = f"pid {int(info['pid'])} on {info['host']}, since {since}"
        except (ValueError, KeyError, TypeError):
            who = "a process that left no details"
        return (f"{self.db} is being written by another rcx run ({who}). Wait for it to finish or stop it "
                f"(then run again to resume), or write to another file with --db. Readers such as "
                f"`rcx results {self.db}` work meanwhile.")

    def release(self) -> None:
        """Give up this holder's share; the last one in the process removes the lock file."""
        if not self._active:
            return
        self._active = False
        with self._guard:
            held = self._held.get(self._key)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del self._held[self._key]
                try:
                    os.unlink(self.path)  # while still locked: a waiting writer re-checks the inode
                except OSError:
                    pass
                os.close(held[0])

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


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

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: WriterLock | None = None) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> Store:
        """Open or create ``path`` for writing (parent directories are created).

        Takes the :class:`WriterLock` (:class:`StoreBusy` when another process writes it). An
        existing file is checked before the first write, so a file refused here is left
        byte-identical: ``verify`` runs SQLite's integrity check (:class:`StoreError` "damaged"),
        and a non-empty file must be an rcx results file (not another program's database). A
        zero-byte file is a new, empty results file (as :meth:`open_readonly` reads it).
        """
        path = Path(path)
        lock = WriterLock(path).acquire()
        existing = _size(path) > 0
        try:
            conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        except sqlite3.Error as exc:
            lock.release()
            raise StoreError(describe_sqlite_error(path, exc)) from None
        conn.row_factory = sqlite3.Row
        try:
            if existing:  # reads only, before anything is written
                if verify:
                    check_integrity(conn, path)
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
                    raise StoreError(f"{path}: not an rcx results database (no rcx tables); "
                                     "choose another file with --db")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            with conn:
                conn.executescript(_SCHEMA)
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif _schema(row[0]) > SCHEMA_VERSION:
                    raise StoreError(f"{path}: written by a newer rcx (schema {row[0]} > {SCHEMA_VERSION}); "
                                     "upgrade rcx")
                elif _schema(row[0]) < SCHEMA_VERSION:  # 1 -> 2: the script above created `curves`
                    _migrate(conn)
                    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            conn.close()
            lock.release()
            low = str(exc).lower()
            if "not a database" in low or "malformed" in low:
                raise StoreError(f"{path}: not an rcx results database ({exc})") from None
            raise StoreError(describe_sqlite_error(path, exc)) from None
        except BaseException:
            conn.close()
            lock.release()
            raise
        return cls(conn, path, lock)

    @classmethod
    def open_readonly(cls, path: str | Path, verify: bool = False) -> Store:
        """Open an existing results file without writing to it (it may be in use by a run).

        The folder is left as it was found: on a file no one has open (no ``-wal`` beside it)
        the connection is a query-only read-write one, which SQLite lets remove the ``-wal`` and
        ``-shm`` files it needs while reading; beside a run in progress (or one that was killed)
        it is a read-only one, which leaves them as they are. On read-only storage, where SQLite
        cannot create those files, the file is opened as immutable (it cannot be changing
        there). A zero-byte file reads as an empty results file (no run yet), as :meth:`open`
        treats it. ``verify``: run SQLite's integrity check first (:class:`StoreError` "damaged").
        """
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a results file")
        if not path.exists():
            raise StoreError(f"{path}: no such results file")
        if _size(path) == 0:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.executescript(_SCHEMA)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("PRAGMA query_only=ON")
            return cls(conn, path)
        uri = path.resolve().as_uri()
        quiet = not any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))
        modes = (["mode=rw"] if quiet else []) + ["mode=ro", "mode=ro&immutable=1"]
        for i, mode in enumerate(modes):
            try:
                conn, row = cls._read_schema(f"{uri}?{mode}", path if verify else None)
                break
            except sqlite3.OperationalError as exc:
                retry = "unable to open" in str(exc) or "readonly" in str(exc)
                if not retry or i == len(modes) - 1:
                    raise StoreError(f"{path}: not an rcx results database ({exc})") from None
            except StoreError:
                raise
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{path}: not an rcx results database ({exc})") from None
        if row is None or not str(row[0]).isdigit():
            conn.close()
            raise StoreError(f"{path}: not an rcx results database of schema <= {SCHEMA_VERSION}")
        if int(row[0]) > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path}: written by a newer rcx (schema {row[0]} > {SCHEMA_VERSION}); upgrade rcx")
        return cls(conn, path)

    @staticmethod
    def _read_schema(uri: str, verify: Path | None = None) -> tuple[sqlite3.Connection, sqlite3.Row | None]:
        """A connection that cannot write to ``uri`` and its schema-version row (None if absent);
        ``verify``: the file's path, to run :func:`check_integrity` first."""
        conn = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA query_only=ON")
            if verify is not None:
                check_integrity(conn, verify)
            return conn, conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    # -- runs ------------------------------------------------------------------------------
    @_db_errors
    def runs(self) -> list[RunInfo]:
        return [self._run(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY id")]

    @_db_errors
    def run(self, run_id: int | None = None) -> RunInfo:
        """The run ``run_id``, or the latest one."""
        if run_id is None:
            row = self.conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self.conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no run {run_id}" if run_id is not None
                             else f"{self.path}: holds no run yet")
        return self._run(row)

    @staticmethod
    def _run(r: sqlite3.Row) -> RunInfo:
        return RunInfo(
            r["id"], r["name"], r["plan_text"], json.loads(r["plan_json"]), r["plan_hash"],
            json.loads(r["versions_json"]), r["device"], r["device_name"], json.loads(r["dataset_json"]),
            r["state"], r["created"], r["updated"],
        )

    @_db_errors
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
        assert cur.lastrowid is not None  # set by the INSERT
        return cur.lastrowid

    @_db_errors
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
    @_db_errors
    def add_candidates(self, run_id: int, rows: Iterable[tuple[int, str, dict, dict, bool, str]]) -> None:
        """Insert ``(idx, arch, params, info, valid, reason)`` rows; existing ones are kept."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO candidates VALUES (?,?,?,?,?,?,?)",
                ((run_id, i, a, json.dumps(p), json.dumps(inf), int(v), r) for i, a, p, inf, v, r in rows),
            )

    @_db_errors
    def candidates(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT idx, arch, params_json, info_json, valid, reason FROM candidates WHERE run_id=? ORDER BY idx",
            (run_id,),
        )
        return [
            {"idx": r[0], "arch": r[1], "params": json.loads(r[2]), "info": json.loads(r[3]), "valid": bool(r[4]),
             "reason": r[5]}
            for r in rows
        ]

    # -- evaluations -----------------------------------------------------------------------
    @_db_errors
    def finished_keys(self, run_id: int) -> set[tuple[str, str]]:
        """(arch, evaluator) pairs whose evaluation reached a final state (any state but
        ``running``: a status a plugin declares beyond :data:`FINAL_STATES` is final too)."""
        rows = self.conn.execute("SELECT arch, evaluator FROM evaluations WHERE run_id=? AND state != 'running'",
                                 (run_id,))
        return {(a, e) for a, e in rows}

    @_db_errors
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
                f"DELETE FROM evaluations WHERE run_id=? AND state IN ({','.join('?' * len(states))})",
                (run_id, *states),
            )
        return cur.rowcount

    @_db_errors
    def start_evaluation(self, run_id: int, arch: str, evaluator: str, seed: int, device: str) -> None:
        """Mark an evaluation ``running``; curve points left by an earlier, unfinished attempt go."""
        with self.conn:
            self._clear_curve(run_id, arch, evaluator)
            self.conn.execute(
                "INSERT OR REPLACE INTO evaluations (run_id, arch, evaluator, state, seed, device, started)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, arch, evaluator, "running", seed, device, time.time()),
            )

    @_db_errors
    def finish_evaluation(
        self, run_id: int, arch: str, evaluator: str, status: str, *, metrics: dict[str, Any] | None = None,
        trials: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None, error: str = "",
        seconds: float | None = None, seed: int | None = None, device: str = "", cpu_s: float | None = None,
    ) -> None:
        """Record a final status (inserting the row if it was never started, e.g. ``invalid``).
        ``seconds``: wall time, ``cpu_s``: CPU seconds of the evaluation (None: not measured).

        Non-finite numbers are stored as ``null``; a metric or trial value that JSON cannot
        hold raises :class:`UnstorableValue` before anything is written (``extra`` values of
        other types are stored as their text).
        """
        texts = (_dumps(metrics or {}, "metrics"), _dumps(trials or [], "trials"), _dumps(extra or {}, "extra", True))
        now = time.time()
        with self.conn:
            self.conn.execute(
                "INSERT INTO evaluations (run_id, arch, evaluator, state, metrics_json, trials_json, extra_json,"
                " error, seed, device, started, finished, seconds, cpu_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (run_id, arch, evaluator) DO UPDATE SET state=excluded.state,"
                " metrics_json=excluded.metrics_json, trials_json=excluded.trials_json, extra_json=excluded.extra_json,"
                " error=excluded.error, finished=excluded.finished, seconds=excluded.seconds, cpu_s=excluded.cpu_s,"
                " seed=COALESCE(excluded.seed, seed),"
                " device=CASE WHEN excluded.device='' THEN device ELSE excluded.device END",
                (run_id, arch, evaluator, status, *texts, error, seed, device, now, now, seconds, cpu_s),
            )

    @_db_errors
    def record_selection(self, run_id: int, instance: str, selection: dict[str, Any], skipped: dict[str, str]) -> None:
        """Record a stage's selection and mark every candidate it skipped, in one transaction.

        ``selection`` (JSON: e.g. ``by``, ``selected`` ids) is kept in ``meta`` under
        ``selection/RUN/INSTANCE``; ``skipped`` maps arch ids to the reason stored as the error
        of their ``skipped`` evaluation of ``instance``.
        """
        now = time.time()
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                              (f"selection/{run_id}/{instance}", _dumps(selection, "selection")))
            self.conn.executemany(
                "INSERT OR IGNORE INTO evaluations (run_id, arch, evaluator, state, error, started, finished, seconds)"
                " VALUES (?,?,?,'skipped',?,?,?,0)",
                [(run_id, arch, instance, reason, now, now) for arch, reason in skipped.items()],
            )

    @_db_errors
    def selection(self, run_id: int, instance: str) -> dict[str, Any] | None:
        """What :meth:`record_selection` kept for ``instance`` of ``run_id``, or None."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (f"selection/{run_id}/{instance}",)).fetchone()
        return json.loads(row[0]) if row else None

    @_db_errors
    def record_trial(self, run_id: int, record: dict[str, Any]) -> None:
        """Keep one search trial (``record["number"]``, its values, ...) under ``trial/RUN/NUMBER``."""
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                              (f"trial/{run_id}/{int(record['number']):09d}", _dumps(record, "trial")))

    @_db_errors
    def record_trials(self, run_id: int, records: list[dict[str, Any]]) -> None:
        """Keep one batch of search trials in one transaction: a batch is recorded whole or not
        at all, so a resumed search never meets half a batch."""
        with self.conn:
            for record in records:
                self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                  (f"trial/{run_id}/{int(record['number']):09d}", _dumps(record, "trial")))

    @_db_errors
    def trials(self, run_id: int) -> list[dict[str, Any]]:
        """The recorded search trials of ``run_id`` in number order."""
        rows = self.conn.execute("SELECT value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
                                 (f"trial/{run_id}/", f"trial/{run_id}0"))
        return [json.loads(v) for (v,) in rows]

    @_db_errors
    def cancel_evaluation(self, run_id: int, arch: str, evaluator: str) -> None:
        """Drop an in-flight row and its curve points (a cancelled evaluation is simply not done)."""
        with self.conn:
            self._clear_curve(run_id, arch, evaluator)
            self.conn.execute(
                "DELETE FROM evaluations WHERE run_id=? AND arch=? AND evaluator=? AND state='running'",
                (run_id, arch, evaluator),
            )

    @_db_errors
    def evaluations(self, run_id: int) -> list[dict[str, Any]]:
        return self._evaluation_rows("run_id=?", (run_id,))

    def _evaluation_rows(self, where: str, args: tuple) -> list[dict[str, Any]]:
        rows = self.conn.execute(f"SELECT * FROM evaluations WHERE {where} ORDER BY rowid", args)
        out = []
        for r in rows:
            d = dict(r)
            d.setdefault("cpu_s", None)  # a file of schema < 3 opened read-only
            d["status"] = d.pop("state")  # the column keeps its old name: files stay compatible
            for key in ("metrics", "trials", "extra"):
                d[key] = json.loads(d.pop(f"{key}_json"))
            out.append(d)
        return out

    @_db_errors
    def evaluations_of(self, run_id: int, arch: str) -> list[dict[str, Any]]:
        """The evaluations of one architecture (as :meth:`evaluations` gives them)."""
        return self._evaluation_rows("run_id=? AND arch=?", (run_id, arch))

    @_db_errors
    def counts(self, run_id: int) -> dict[str, int]:
        rows = self.conn.execute("SELECT state, COUNT(*) FROM evaluations WHERE run_id=? GROUP BY state", (run_id,))
        return {s: n for s, n in rows}

    # -- learning curves -------------------------------------------------------------------
    @_db_errors
    def add_curve_point(self, run_id: int, arch: str, evaluator: str, step: int, epoch: float,
                        metrics: dict[str, Any]) -> None:
        """Record one point of an evaluation's learning curve (``step``: optimiser steps so far)."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO curves (run_id, arch, evaluator, step, epoch, metrics_json, time)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, arch, evaluator, int(step), float(epoch), _dumps(metrics, "curve point"), time.time()),
            )

    @_db_errors
    def curve(self, run_id: int, arch: str, evaluator: str) -> list[dict[str, Any]]:
        """One evaluation's points in step order: ``{"step", "epoch", **metrics}``."""
        return self._curve_rows("run_id=? AND arch=? AND evaluator=?", (run_id, arch, evaluator))

    @_db_errors
    def curves(self, run_id: int, evaluator: str | None = None) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Every curve of a run (or of one evaluator instance), keyed by (arch, evaluator)."""
        where, args = (("run_id=?", (run_id,)) if evaluator is None
                       else ("run_id=? AND evaluator=?", (run_id, evaluator)))
        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for point in self._curve_rows(where, args, with_keys=True):
            out.setdefault((point.pop("arch"), point.pop("evaluator")), []).append(point)
        return out

    def _curve_rows(self, where: str, args: tuple, with_keys: bool = False) -> list[dict[str, Any]]:
        try:
            rows = self.conn.execute(
                f"SELECT arch, evaluator, step, epoch, metrics_json FROM curves WHERE {where}"
                " ORDER BY arch, evaluator, step",
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
    @_db_errors
    def log(self, run_id: int, level: str, message: str) -> None:
        with self.conn:
            self.conn.execute("INSERT INTO log (run_id, time, level, message) VALUES (?,?,?,?)",
                              (run_id, time.time(), level, message))

    @_db_errors
    def logs(self, run_id: int) -> list[tuple[float, str, str]]:
        rows = self.conn.execute("SELECT time, level, message FROM log WHERE run_id=? ORDER BY id", (run_id,))
        return [tuple(r) for r in rows]
