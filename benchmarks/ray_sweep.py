"""The quickstart's ridge sweep in-process against Ray with 2 workers x 1 thread, in one process run.

``examples/quickstart.toml`` (40 ``ksd`` architectures x 3 ridge-RFM trials on 500 + 500
synthetic 32x32 images) runs through ``rcx run --headless`` in subprocesses, in turn:

- **in-process, N threads** (``--inproc-threads``, ``auto`` and 1 by default): one process,
  torch on N threads; ``auto`` is rcx's default (one thread per idle core: 2 on a quiet 2-core
  machine, 1 on a busy one, where 2 threads stall each other, BENCHMARKS.md "CPU threads
  under load"), 1 is what one Ray worker gets;
- **Ray, 2 workers x 1 thread**: a local Ray instance, two worker processes.

Rounds alternate the order (machines here are shared; interleaving makes drifting load hit
every configuration alike); medians count. Figures per run: the sweep rate (evaluations per
second between the first start and the last finish in the results file), the steady rate
(between the first and the last finish), and the whole command (start-up, dataset, Ray's start
and its workers' set-up included). Ratios are Ray over in-process with 2 threads, and Ray over
the 1-thread run (parallel efficiency: 2.0 would be two workers doing two workers' work).

    python benchmarks/ray_sweep.py [--rounds 2] [--inproc-threads auto,1] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from sweep_timing import ROOT, SweepTiming, child_env, dump, executor_args, ratio, run_sweep  # benchmarks/

QUICKSTART = ROOT / "examples" / "quickstart.toml"


def configurations(inproc_threads: list[str], workers: int) -> dict[str, list[str]]:
    """Label -> `rcx run` flags of every configuration of a round (threads: a number or ``auto``)."""
    configs = {f"in-process {t} thr": [*executor_args("in-process"), "--threads", t] for t in inproc_threads}
    configs[f"ray {workers}x1"] = executor_args("ray", workers=workers, threads_per_worker=1, cpus_per_worker=1)
    return configs


def summarise(runs: dict[str, list[SweepTiming]]) -> dict[str, dict[str, float]]:
    """Medians per configuration: ``sweep_rate``, ``steady_rate`` (evaluations/s), ``wall_s``."""
    return {label: {"sweep_rate": statistics.median(t.sweep_rate for t in ts),
                    "steady_rate": statistics.median(t.steady_rate for t in ts),
                    "wall_s": statistics.median(t.wall_s for t in ts), "done": ts[0].done}
            for label, ts in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", type=Path, default=QUICKSTART)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--inproc-threads", default="auto,1", help="in-process configurations: thread counts or auto")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed to one rcx command")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--log", type=Path, help="append the rcx commands' output here")
    args = ap.parse_args()
    threads = [t.strip() for t in args.inproc_threads.split(",") if t.strip()]
    configs = configurations(threads, args.workers)
    runs: dict[str, list[SweepTiming]] = {label: [] for label in configs}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        env = child_env()
        for r in range(args.rounds):
            labels = list(configs) if r % 2 == 0 else list(reversed(configs))
            for label in labels:
                t = run_sweep(label, args.plan, Path(tmp) / "sweep.db", configs[label], timeout=args.timeout, env=env,
                              log=args.log)
                loads.append(os.getloadavg()[0])
                print(f"round {r} {label:18s} sweep {t.sweep_rate:6.2f} eval/s  steady {t.steady_rate:6.2f} eval/s  "
                      f"command {t.wall_s:6.1f} s  ({t.done} evaluations{'; ' + t.error if t.error else ''}) "
                      f"load {loads[-1]:.1f}; {t.device}", flush=True)
                if not t.ok:
                    print(f"{label} failed: {t.error}", file=sys.stderr)
                    return 1
                runs[label].append(t)
    med = summarise(runs)
    ray_label = f"ray {args.workers}x1"
    base = f"in-process {threads[0]} thr"
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs; load average during the runs "
          f"{min(loads):.1f}-{max(loads):.1f}; plan {args.plan.name}; medians of {args.rounds} interleaved rounds")
    for label, m in med.items():
        print(f"  {label:18s} sweep {m['sweep_rate']:6.2f} eval/s  steady {m['steady_rate']:6.2f} eval/s  "
              f"command {m['wall_s']:6.1f} s")
    ratios = {f"ray / {label}": {k: ratio(med[ray_label][k], med[label][k]) for k in ("sweep_rate", "steady_rate")}
              | {"command": ratio(med[label]["wall_s"], med[ray_label]["wall_s"])}
              for label in med if label != ray_label}
    for name, r in ratios.items():
        print(f"  {name}: sweep rate {r['sweep_rate']:.2f}x, steady rate {r['steady_rate']:.2f}x, "
              f"whole command {r['command']:.2f}x (>1: Ray faster)")
    if args.json:
        dump(args.json, {"plan": str(args.plan), "rounds": args.rounds, "medians": med, "ratios": ratios,
                         "baseline": base, "loads": loads, "cpus": os.cpu_count(),
                         "runs": {k: [t.as_dict() for t in v] for k, v in runs.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
