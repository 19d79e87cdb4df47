"""The quickstart's wall time, quiet and under artificial CPU load, per torch thread setting.

Each measurement is one ``rcx run --headless -q --threads T`` of ``examples/quickstart.toml``
(``--n`` architectures; fresh results file, fixed synthetic dataset cache) in a subprocess, so
it includes what a user waits for: Python and torch start-up, data, sampling, evaluation.

Blocks alternate: quiet (the machine as it is), loaded (``--load`` busy-loop processes,
``python -c 'while True: pass'``, started ``--settle`` seconds before the block so that the
1-minute load average that ``auto`` reads sees them, and killed after it, also on errors and
Ctrl-C), quiet, loaded, ..., quiet; one run per setting per block, settings in alternating
order. Each condition's median counts. The figure to read is each setting's slowdown
``loaded / quiet`` from this one process run (GUIDE.md section 5), next to the ratio of the
machine's run queue (mean runnable threads during the runs, sampled from ``/proc/loadavg``): a
setting that degrades gracefully slows down about as much as the run queue grows, not by an
order of magnitude. The machines here are shared, so "quiet" means without the busy loops.

    python benchmarks/threads.py [--n 40] [--load 6] [--threads 1,2,auto] [--rounds 2]

A run past ``--limit`` seconds is stopped and counts as "> limit".
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "examples" / "quickstart.toml"


def write_plan(folder: Path, n: int) -> Path:
    """The quickstart plan with ``[sampler] n = n``; returns its path."""
    text, count = re.subn(r"(?m)^n = \d+", f"n = {n}", PLAN.read_text())
    if count != 1:
        raise SystemExit(f"{PLAN}: expected one 'n = ...' line in [sampler]")
    path = folder / "quickstart.toml"
    path.write_text(text)
    return path


class RunQueue:
    """Mean number of runnable threads on the machine while a block runs, sampled from
    ``/proc/loadavg`` every 0.2 s (the sampler itself excluded); ``None`` off Linux."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
            except OSError:
                return
            self.samples.append(int(running) - 1)

    def __enter__(self) -> RunQueue:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def run_once(plan: Path, folder: Path, threads: str, limit: float,
             env: dict[str, str]) -> tuple[float | None, float | None, float]:
    """(wall seconds, mean run queue, CPU seconds) of one headless run into a fresh results
    file; wall seconds is None when the run went past ``limit``."""
    db = folder / f"run-{threads}-{time.monotonic_ns()}.db"
    cmd = [sys.executable, "-m", "rcx", "run", "--headless", "-q", "--top", "0", "--threads", threads, "--db", str(db),
           str(plan)]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    with RunQueue() as queue:
        try:
            subprocess.run(cmd, check=True, env=env, timeout=limit, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            seconds: float | None = time.perf_counter() - t0
        except subprocess.TimeoutExpired:
            seconds = None
        finally:
            db.unlink(missing_ok=True)
    return seconds, queue.mean, _children_cpu() - cpu0


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(plan: Path, folder: Path, settings: list[str], limit: float, env: dict[str, str],
            label: str, results: dict[tuple[str, str], list[tuple[float | None, float | None]]]) -> None:
    """One run per setting, appended to ``results[(label, setting)]``."""
    for s in settings:
        load = os.getloadavg()[0]
        seconds, queue, cpu = run_once(plan, folder, s, limit, env)
        results.setdefault((label, s), []).append((seconds, queue))
        shown = f"{seconds:7.1f} s" if seconds is not None else f"> {limit:.0f} s"
        print(f"{label:6s} threads={s:5s} {shown} (CPU {cpu:6.1f} s)   load average before {load:5.1f}, "
              f"mean run queue during {queue if queue is not None else float('nan'):5.1f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="architectures (the quickstart draws 40)")
    ap.add_argument("--load", type=int, default=6, help="busy-loop processes for the loaded measurement")
    ap.add_argument("--threads", default="1,2,auto", help="comma-separated --threads values")
    ap.add_argument("--rounds", type=int, default=2, help="loaded blocks, each between two quiet blocks")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds the busy loops run before measuring")
    ap.add_argument("--limit", type=float, default=600.0, help="seconds before a run is abandoned")
    args = ap.parse_args()
    settings = [s.strip() for s in args.threads.split(",") if s.strip()]

    env = {k: v for k, v in os.environ.items() if k not in ("RCX_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores; python "
          f"{platform.python_version()}; quickstart with n = {args.n}; busy loops when loaded: {args.load}")
    results: dict[tuple[str, str], list[tuple[float | None, float | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="rcx-threads-") as tmp:
        folder = Path(tmp)
        plan = write_plan(folder, args.n)
        env["RCX_CACHE_DIR"] = str(folder / "cache")
        run_once(plan, folder, "1", args.limit, env)  # warm-up: builds the synthetic dataset cache
        for r in range(args.rounds):  # quiet, loaded, quiet, loaded, ..., quiet: both see the same drift
            order = settings if r % 2 == 0 else settings[::-1]
            measure(plan, folder, order, args.limit, env, "quiet", results)
            # each in its own session, like other users' jobs (Linux autogroups share the CPU by session)
            busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                    for _ in range(args.load)]
            try:
                time.sleep(args.settle)  # let the 1-minute load average (what auto reads) see the busy loops
                measure(plan, folder, order, args.limit, env, "loaded", results)
            finally:
                for p in busy:
                    p.kill()
                for p in busy:
                    p.wait()
        measure(plan, folder, settings[::-1] if args.rounds % 2 else settings, args.limit, env, "quiet", results)

    print(f"\nmedian per condition ({args.rounds} loaded and {args.rounds + 1} quiet runs per setting; "
          "run queue = mean runnable threads during the runs, rcx's own included)")
    print(f"{'threads':>8} {'quiet s':>8} {'queue':>6} {'loaded s':>9} {'queue':>6} {'slowdown':>9} "
          f"{'queue ratio':>12}")
    for s in settings:
        q_s, q_queue = _median(results[("quiet", s)])
        l_s, l_queue = _median(results[("loaded", s)])
        slow = f"{l_s / q_s:8.2f}x" if q_s and l_s else "       --"
        ratio = f"{l_queue / q_queue:11.2f}x" if q_queue and l_queue else "         --"
        print(f"{s:>8} {_fmt(q_s, 8)} {_fmt(q_queue, 6)} {_fmt(l_s, 9)} {_fmt(l_queue, 6)} {slow} {ratio}")
    return 0


def _median(runs: list[tuple[float | None, float | None]]) -> tuple[float | None, float | None]:
    """Median seconds (a run past the limit counts as infinite) and median run queue; of an
    even count, the higher of the two middle values."""
    seconds = sorted(s if s is not None else math.inf for s, _ in runs)
    queues = sorted(q for _, q in runs if q is not None)
    mid = seconds[len(seconds) // 2]
    return (None if math.isinf(mid) else mid), (queues[len(queues) // 2] if queues else None)


def _fmt(value: float | None, width: int) -> str:
    return f"{value:{width}.1f}" if value is not None else f"{'>limit':>{width}}"


if __name__ == "__main__":
    sys.exit(main())
