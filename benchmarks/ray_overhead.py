"""What the Ray executor adds per evaluation, against the in-process executor, in one process run.

The plan evaluates ``--evals`` candidates (1,000 by default) with ``trivial``, an evaluator
that does no work (``benchmarks/trivial_site``, loaded as a plugin through ``PYTHONPATH`` by
the driver and by every Ray worker). So each run's time is the runner's own (results file,
events) plus, on Ray, the executor's: task submission, transport, the worker's call, the
result's way back. Both executors run the same plan through ``rcx run --headless`` in
subprocesses, alternating for ``--rounds`` rounds (machines here are shared: interleaving makes
drifting load hit both alike); the median round counts.

Figures per evaluation, Ray minus in-process:

- **steady state**: time between the first and the last evaluation finished, over n - 1;
- **including start-up**: the whole command (Ray's start and its workers' set-up included),
  over n.

Issue 10's target: at most 5 ms per evaluation.

    python benchmarks/ray_overhead.py [--evals 1000] [--rounds 3] [--workers 1] [--json FILE]

With one worker (the default) nothing runs in parallel, so no parallelism hides the overhead.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from sweep_timing import ROOT, SweepTiming, child_env, dump, executor_args, run_sweep  # benchmarks/

TRIVIAL_SITE = ROOT / "benchmarks" / "trivial_site"
TARGET_MS = 5.0

PLAN = """
name = "bench-ray-overhead"
seed = 0
device = "cpu"
[dataset]
name = "synthetic"
n_train = 20
n_test = 20
image_size = 32
[space]
name = "ksd"
channels = 4
[sampler]
kind = "random"
n = {evals}
valid_only = true
[evaluators.trivial]
"""


def overhead_ms(inproc: SweepTiming, ray: SweepTiming) -> dict[str, float]:
    """Per-evaluation milliseconds, Ray minus in-process: ``steady`` and ``startup`` (whole command)."""
    n = max(1, min(inproc.done, ray.done))
    steady_in = inproc.steady_s / max(1, inproc.done - 1)
    steady_ray = ray.steady_s / max(1, ray.done - 1)
    return {"steady": 1000 * (steady_ray - steady_in), "startup": 1000 * (ray.wall_s - inproc.wall_s) / n,
            "inproc_steady": 1000 * steady_in, "ray_steady": 1000 * steady_ray}


def measure(evals: int, rounds: int, workers: int, timeout: float, log: Path | None = None) -> dict[str, object]:
    """Run the rounds and return the figures (medians over rounds) and every run's timing."""
    env = child_env([TRIVIAL_SITE])
    runs: list[dict[str, object]] = []
    per_round: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.toml"
        plan.write_text(PLAN.format(evals=evals))
        for r in range(rounds):
            order = ("inproc", "ray") if r % 2 == 0 else ("ray", "inproc")
            got: dict[str, SweepTiming] = {}
            for which in order:
                flags = executor_args("ray", workers=workers, threads_per_worker=1) if which == "ray" else \
                    executor_args("in-process")
                t = run_sweep(f"{which}#{r}", plan, Path(tmp) / f"{which}.db", [*flags, "--threads", "1"],
                              timeout=timeout, env=env, log=log)
                runs.append(t.as_dict())
                if not t.ok or t.done < evals:
                    raise RuntimeError(f"{which} run: {t.error or f'{t.done}/{evals} evaluations recorded'}")
                got[which] = t
            per_round.append(overhead_ms(got["inproc"], got["ray"]))
    med = {k: statistics.median(r[k] for r in per_round) for k in per_round[0]}
    return {"evals": evals, "rounds": rounds, "workers": workers, "overhead_ms": med, "per_round_ms": per_round,
            "target_ms": TARGET_MS, "runs": runs, "load_avg": os.getloadavg(), "cpus": os.cpu_count()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating in-process/Ray rounds; the median counts")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed to one rcx command")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--log", type=Path, help="append the rcx commands' output here")
    args = ap.parse_args()
    load_before = os.getloadavg()
    out = measure(args.evals, args.rounds, args.workers, args.timeout, args.log)
    out["load_avg_before"] = load_before
    med = out["overhead_ms"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / "
          f"{out['load_avg'][0]:.1f} after; {args.evals} trivial evaluations, Ray with {args.workers} worker(s), "
          f"median of {args.rounds} interleaved rounds")
    for r, fig in enumerate(out["per_round_ms"]):
        print(f"round {r}: in-process {fig['inproc_steady']:.2f} ms/eval, Ray {fig['ray_steady']:.2f} ms/eval "
              f"(steady); overhead {fig['steady']:+.2f} ms steady, {fig['startup']:+.2f} ms with start-up")
    verdict = "met" if med["steady"] <= TARGET_MS else "MISSED"
    print(f"Ray overhead per evaluation: {med['steady']:.2f} ms steady state, {med['startup']:.2f} ms including "
          f"start-up (target <= {TARGET_MS:g} ms steady: {verdict})")
    if args.json:
        dump(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
