"""Time one `rcx run --headless` command and read how fast its sweep went from its results file.

Shared by ``ray_overhead.py``, ``ray_sweep.py`` and ``device_check.py``: each runs the same plan
once per executor in subprocesses of one benchmark process and compares the figures. A sweep's
figures come from the results file's own timestamps, so the CLI's start-up (imports, dataset,
a Ray instance) is separated from the evaluations:

- ``wall_s``: the whole command, process start to exit (what a user waits for);
- ``span_s``: first evaluation started to last evaluation finished (the sweep);
- ``steady_s``: first evaluation finished to last finished, over ``n - 1`` evaluations (the
  rate once the pipeline is full: no worker start-up, no first-call warm-up).

A command stopped at its time limit still yields the span and steady rates of what it finished.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SweepTiming:
    """Figures of one run. Times in seconds; rates in evaluations per second (0 when undefined)."""

    label: str
    returncode: int
    wall_s: float
    done: int  # evaluations recorded with a final status
    span_s: float
    steady_s: float
    timed_out: bool = False
    error: str = ""  # the last line of stderr when the command failed
    device: str = ""  # the run's recorded device description (torch threads included)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def sweep_rate(self) -> float:
        return self.done / self.span_s if self.span_s > 0 else 0.0

    @property
    def steady_rate(self) -> float:
        return (self.done - 1) / self.steady_s if self.done > 1 and self.steady_s > 0 else 0.0

    @property
    def wall_rate(self) -> float:
        return self.done / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"sweep_rate": self.sweep_rate, "steady_rate": self.steady_rate,
                               "wall_rate": self.wall_rate}


def read_timestamps(db: Path) -> tuple[int, float, float]:
    """``(finished evaluations, span, steady span)`` of the latest run in the results file ``db``.

    Rows still ``running`` and ``invalid`` rows (recorded without running) are left out."""
    if not db.exists():
        return 0, 0.0, 0.0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT COUNT(*), MIN(started), MAX(finished), MIN(finished) FROM evaluations "
            "WHERE run_id = (SELECT MAX(id) FROM runs) AND state NOT IN ('running', 'invalid') "
            "AND started IS NOT NULL AND finished IS NOT NULL").fetchone()
    finally:
        con.close()
    n, first_start, last_finish, first_finish = row
    if not n:
        return 0, 0.0, 0.0
    return int(n), float(last_finish - first_start), float(last_finish - first_finish)


def recorded_device(db: Path) -> str:
    """The device description recorded with the file's latest run, e.g. ``cpu (x86_64, 1 threads, AVX2)``."""
    if not db.exists():
        return ""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT device_name FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        con.close()
    return str(row[0]) if row else ""


def executor_args(executor: str, workers: int = 0, gpus_per_worker: float = 0.0, cpus_per_worker: int = 0,
                  threads_per_worker: int = 0, address: str = "") -> list[str]:
    """The `rcx run` flags of an executor; zero or empty values are left to rcx's defaults."""
    args = ["--executor", executor]
    if executor == "ray":
        for flag, value in (("--workers", workers), ("--gpus-per-worker", gpus_per_worker),
                            ("--cpus-per-worker", cpus_per_worker), ("--threads-per-worker", threads_per_worker),
                            ("--address", address)):
            if value:
                args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return args


def child_env(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """This process's environment with ``extra_path`` and the repository root in front of
    ``PYTHONPATH`` (Ray workers inherit it, so plugins reached through it load there too)."""
    env = dict(os.environ)
    parts = [str(p) for p in (*extra_path, ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_sweep(label: str, plan: Path, db: Path, flags: Sequence[str], *, timeout: float,
              env: dict[str, str] | None = None, log: Path | None = None) -> SweepTiming:
    """Run ``python -m rcx run --headless plan --db db -q --top 0 *flags`` and time it.

    The command runs in its own process group; at ``timeout`` seconds it gets SIGINT (rcx stops
    cleanly and shuts its Ray instance down), then SIGKILL for the whole group 20 s later.
    Output goes to ``log`` (appended) when given."""
    db.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "rcx", "run", "--headless", str(plan), "--db", str(db), "-q", "--top", "0", *flags]
    out = open(log, "a") if log else subprocess.DEVNULL
    if log:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
    timed_out = False
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env or child_env(), stdout=out, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if log:
        out.write(err)
        out.close()
    n, span, steady = read_timestamps(db)
    lines = [ln for ln in (err or "").splitlines() if ln.strip()]
    error = "" if proc.returncode == 0 and not timed_out else (
        f"stopped at its {timeout:.0f} s limit" if timed_out else (lines[-1] if lines else f"exit {proc.returncode}"))
    return SweepTiming(label, proc.returncode, wall, n, span, steady, timed_out, error[:300], recorded_device(db))


def ratio(num: float, den: float) -> float:
    """``num / den``, 0 when ``den`` is 0 (a figure that could not be measured)."""
    return num / den if den else 0.0


def dump(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
