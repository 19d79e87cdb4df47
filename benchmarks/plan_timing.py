"""Seconds per architecture of each evaluator of a plan, measured on a sample of its candidates,
and the plan's projected duration (the budget check of examples/nb201_study.toml).

    python benchmarks/plan_timing.py examples/nb201_study.toml --sample 12 [--threads 1]

The evaluators run exactly as ``rcx run`` runs them (same data, candidates, seeds), one
architecture after the other, on the plan's device; nothing is written. Per evaluator it prints
the mean wall and CPU seconds (process time, all threads) per architecture and the projection
for the plan's ``sampler.n``. On a machine shared with other work the wall time measures the
load, not the plan: with ``--threads 1`` the CPU time is what one core needs, an upper bound of
the wall time on an idle machine (two threads on two idle cores take between a half and the
whole of it).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from rcx.api.evaluator import EvalContext, RunContext
from rcx.api.seeding import derive_seed
from rcx.core.plan import load_plan
from rcx.core.runner import Runner
from rcx.plugins import load_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", type=Path)
    parser.add_argument("--sample", type=int, default=12, help="architectures to time (the plan's first N)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    registry = load_registry()
    plan = load_plan(args.plan, registry)
    runner = Runner(plan, registry)
    t0 = time.perf_counter()
    runner.setup()
    assert runner.data is not None and runner.space is not None and runner.device is not None
    print(f"setup (data, candidates): {time.perf_counter() - t0:.1f} s; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ctx = RunContext(data=runner.data, space=runner.space, device=runner.device, plan_seed=plan.seed)
    for _, evaluator in runner.evaluators:
        evaluator.prepare(ctx)

    sample = runner.candidates[: args.sample]
    wall = {name: [] for name, _ in runner.evaluators}
    cpu = {name: [] for name, _ in runner.evaluators}
    for cand in sample:
        for name, evaluator in runner.evaluators:
            ectx = EvalContext(arch=cand.arch, info=cand.info, seed=derive_seed(plan.seed, name, cand.arch.id),
                               device=runner.device)
            w, c = time.perf_counter(), time.process_time()
            result = evaluator.evaluate(ectx)
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
            print(f"  {name:12s} {wall[name][-1]:7.2f} s wall {cpu[name][-1]:7.2f} s cpu  {result.status}  "
                  f"{cand.arch.id}", flush=True)

    n = plan.sampler["n"] or len(runner.candidates)
    print(f"\nper architecture, mean over {len(sample)} (load average now {os.getloadavg()[0]:.1f}):")
    print(f"{'evaluator':12s} {'wall s':>8s} {'cpu s':>8s} {'n x cpu (h)':>12s}")
    for name in wall:
        mw, mc = sum(wall[name]) / len(sample), sum(cpu[name]) / len(sample)
        print(f"{name:12s} {mw:8.2f} {mc:8.2f} {n * mc / 3600:12.2f}")
    total = sum(sum(v) for v in cpu.values()) / len(sample)
    print(f"{'all':12s} {sum(sum(v) for v in wall.values()) / len(sample):8.2f} {total:8.2f} {n * total / 3600:12.2f}"
          f"   ({n} architectures)")


if __name__ == "__main__":
    main()
