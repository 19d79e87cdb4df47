"""The Ray executor with and without candidate affinity, on the all-scores suite of NAS-Bench-201.

The evaluator tables of ``benchmarks/all_scores.py`` (NASWOT, the ridge pair on shared features,
the eight zero-cost proxies with the five gradient proxies on one shared computation) on
``--archs`` seeded random ``nb201`` cells, run twice through ``Runner`` on a local Ray instance
with ``--workers`` workers of one thread each:

- **fifo**: every free worker takes the next task of the queue (rcx before this change), so the
  evaluations of one candidate spread over the workers and a worker that did not compute the
  shared features or gradients computes them again;
- **affinity**: a worker takes the next task of its own candidate first (``RayExecutor._take``).

Reported: the core-seconds per cell (the sum of ``cpu_s`` over the cell's evaluations, each
measured in its worker), the same per evaluator, the wall time of each run, and whether the two
runs computed the same numbers (they must: only who computes changes).

    python benchmarks/ray_affinity.py [--archs 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rcx.core.plan import parse_plan
from rcx.core.results import results_table
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.exec import ExecutionSettings, make_executor
from rcx.exec.ray_executor import RayExecutor
from rcx.plugins import load_registry

from all_scores import GRADIENT, PLAN  # benchmarks/, the script's own folder
from cifar_subset import unzip_subset

TIMING = ("throughput", "seconds", "cpu_s")


def _fifo(self: RayExecutor, slot: Any, pending: Any) -> Any:
    """The queue's next task whatever its candidate (the executor before candidate affinity)."""
    return pending.popleft()


def run(plan_text: str, workers: int, take: Callable[..., Any] | None) -> tuple[Path, float]:
    """Run the plan on Ray (``take`` replacing the executor's choice of task when given); the
    results file and the wall seconds."""
    registry = load_registry()
    plan = parse_plan(plan_text, registry)
    saved = RayExecutor._take
    if take is not None:
        RayExecutor._take = take  # type: ignore[method-assign]
    executor = make_executor(ExecutionSettings("ray", workers=workers, threads_per_worker=1, cpus_per_worker=1))
    store = Store.open(plan.output)
    try:
        t0 = time.perf_counter()
        Runner(plan, registry, executor=executor).run(store)
        return Path(plan.output), time.perf_counter() - t0
    finally:
        RayExecutor._take = saved  # type: ignore[method-assign]
        store.close()
        executor.close()


def core_seconds(db: Path) -> dict[str, dict[str, float]]:
    """cpu_s per cell and evaluator."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    with sqlite3.connect(db) as conn:
        for arch, evaluator, cpu in conn.execute("SELECT arch, evaluator, cpu_s FROM evaluations"):
            out[arch][evaluator] = cpu or 0.0
    return out


def computed(db: Path) -> list[dict[str, Any]]:
    registry = load_registry()
    store = Store.open(db)
    try:
        table = results_table(store, store.runs()[-1].id, registry)
    finally:
        store.close()
    return [{k: v for k, v in row.items() if not k.endswith(TIMING) and not k.endswith(".worker")}
            for row in table.rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    root = unzip_subset(tmp / "data", 50, 50)
    text = PLAN.format(device="cpu", root=root, archs=args.archs, channels=16, cells=5, images=500,
                       naswot_batch=128, zc_batch=64)
    for name in GRADIENT:
        text = text.replace(f"[evaluators.{name}]\n", f'[evaluators.{name}]\ninit_seed = "shared"\n')
    figures = {}
    for label, take in (("fifo", _fifo), ("affinity", None)):
        plan_text = text.replace('name = "bench-all-scores"', f'name = "bench-all-scores"\noutput = "{tmp / label}.db"')
        db, wall = run(plan_text, args.workers, take)
        figures[label] = (core_seconds(db), wall, computed(db))
    print(f"{args.archs} nb201 cells (C = 16), every training-free score, Ray {args.workers} workers x 1 thread")
    for label, (cpu, wall, _) in figures.items():
        per_cell = [sum(c.values()) for c in cpu.values()]
        print(f"{label:9s} core-seconds per cell: mean {statistics.fmean(per_cell):.3f}, "
              f"median {statistics.median(per_cell):.3f}; wall {wall:.1f} s")
    evaluators = sorted({e for c in figures["fifo"][0].values() for e in c})
    print(f"\n{'evaluator':12s}{'fifo':>10s}{'affinity':>10s}   (mean core-seconds per cell)")
    for e in evaluators:
        print(f"{e:12s}" + "".join(f"{statistics.fmean(c.get(e, 0.0) for c in figures[k][0].values()):10.3f}"
                                   for k in ("fifo", "affinity")))
    fifo = statistics.fmean(sum(c.values()) for c in figures["fifo"][0].values())
    aff = statistics.fmean(sum(c.values()) for c in figures["affinity"][0].values())
    print(f"\nfifo / affinity: {fifo / aff:.2f}x core-seconds; same numbers: "
          f"{figures['fifo'][2] == figures['affinity'][2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
