"""Seconds per NAS-Bench-201 cell for each zero-cost proxy of the ``rcx-zerocost`` plugin.

A seeded random sample of ``nb201`` architectures (the benchmark's C = 16, 5 cells per stage) at
32x32, one batch of 64 CIFAR-10 training images (the first 10 images of each class of
``../shared/data/cifar10-jpeg.zip``; ``--data`` for another image-folder tree), each proxy with
its defaults (one initialisation). Every evaluation is the evaluator's own ``evaluate``, the call
the runner makes per candidate, so the times include building and initialising the network. The
proxies take turns per architecture (rotating which goes first), so drifting machine load hits
all alike; one untimed warm-up architecture first. Reported per proxy: wall seconds and CPU
seconds (``time.process_time``, all threads) per cell; on a shared machine the CPU seconds with
``--threads 1`` are the steadier figure (core-seconds a cell costs).

    python benchmarks/zerocost.py [--archs 10] [--batch 64] [--device cpu] [--threads 0] [--data DIR]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from rcx.api.device import synchronize
from rcx.api.evaluator import EvalContext, RunContext
from rcx.core.device import device_name
from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.plugins import load_registry

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder

NAMES = ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "zen", "zico")

PLAN = """
name = "bench-zerocost"
seed = 0
device = "{device}"
[dataset]
name = "imagefolder"
root = "{root}"
[space]
name = "nb201"
[sampler]
kind = "random"
n = {archs}
valid_only = true
""" + "".join(f"[evaluators.{n}]\n" for n in NAMES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--data", type=Path, help="image-folder tree (default: unzip a subset of the CIFAR-10 zip)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    tmp = tempfile.TemporaryDirectory()
    root = args.data or unzip_subset(Path(tmp.name), max(10, -(-args.batch // 10)), 1)
    registry = load_registry()
    plan = parse_plan(PLAN.format(device=args.device, root=root, archs=args.archs), registry)
    runner = Runner(plan, registry)
    runner.setup()
    evaluators = {}
    for spec in plan.evaluators:
        cls = registry.get("evaluator", spec.plugin)
        options = spec.options | ({"batch_size": args.batch} if "batch_size" in spec.options else {})
        ev = cls(options)
        ev.prepare(RunContext(runner.data, runner.space, runner.device, plan.seed))
        evaluators[spec.instance] = ev

    print(f"machine: {platform.processor() or platform.machine()}, {device_name(runner.device)}, "
          f"{torch.get_num_threads()} torch threads; torch {torch.__version__}")
    print(f"{args.archs} nb201 archs (C=16, 5 cells) at {runner.data.shape}, batch {args.batch}, 1 initialisation")

    def run(name: str, cand) -> tuple[float, float, str]:
        """Wall seconds, CPU seconds and status of one evaluation."""
        synchronize(runner.device)
        t0, c0 = time.perf_counter(), time.process_time()
        out = evaluators[name].evaluate(EvalContext(cand.arch, cand.info, 0, runner.device))
        synchronize(runner.device)
        return time.perf_counter() - t0, time.process_time() - c0, out.status

    for name in NAMES:  # untimed warm-up: first calls pick kernels for every shape
        run(name, runner.candidates[0])
    wall: dict[str, list[float]] = {n: [] for n in NAMES}
    cpu: dict[str, list[float]] = {n: [] for n in NAMES}
    for k, cand in enumerate(runner.candidates):
        order = NAMES[k % len(NAMES):] + NAMES[:k % len(NAMES)]
        line = []
        for name in order:
            secs, cpu_secs, status = run(name, cand)
            wall[name].append(secs)
            cpu[name].append(cpu_secs)
            line.append(f"{name} {secs:5.2f}s" + ("" if status == "done" else f" ({status})"))
        print(f"[{k + 1:2d}/{len(runner.candidates)}] {cand.arch.id}\n    " + "  ".join(line), flush=True)

    print(f"\n{'proxy':10s} {'wall median':>11s} {'wall mean':>9s} {'min':>6s} {'max':>6s} {'CPU mean':>8s}  "
          f"{'1,000 cells (wall)':>18s}")
    for name in NAMES:
        s = wall[name]
        print(f"{name:10s} {statistics.median(s):11.2f} {statistics.fmean(s):9.2f} {min(s):6.2f} {max(s):6.2f} "
              f"{statistics.fmean(cpu[name]):8.2f}  {statistics.fmean(s) * 1000 / 3600:16.2f} h")
    total, total_cpu = sum(statistics.fmean(s) for s in wall.values()), sum(statistics.fmean(s) for s in cpu.values())
    print(f"{'all eight':10s} {'':11s} {total:9.2f} {'':6s} {'':6s} {total_cpu:8.2f}  {total * 1000 / 3600:16.2f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
