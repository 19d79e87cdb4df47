"""Two ridge readouts per NAS-Bench-201 cell: ``init_seed = "shared"`` against each instance's own features.

The NAS-Bench-201 study scores every cell with two ``ridge_rfm`` instances that differ only in
the readout (lambda 1 on raw features; "loo" with standardised features). With ``init_seed =
"instance"`` (the reference: what rcx did before the option) each instance draws its own
weights and runs its own forward passes; with ``"shared"`` both use the same weights and the
second reuses the first one's features. Both runs evaluate the same seeded random cells (C = 16,
5 cells per stage) on 500 + 500 CIFAR-10 images (the first 50 of each class of
``../shared/data/cifar10-jpeg.zip``; ``--data`` for another image-folder tree), in this process,
alternating which goes first per cell, after one untimed warm-up cell. Every evaluation is the
evaluator's own ``evaluate``, the call the runner makes per candidate. Reported: wall and CPU
seconds (``time.process_time``) per cell for the pair, and the ratio.

    python benchmarks/ridge_shared.py [--archs 6] [--threads 1] [--data DIR]
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

from rcx.api.evaluator import EvalContext, RunContext
from rcx.api.seeding import derive_seed
from rcx.core.device import device_name
from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.evaluators.ridge_rfm import SHARED_FEATURES
from rcx.plugins import load_registry

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder

READOUTS = """
[evaluators.{prefix}fixed]
evaluator = "ridge_rfm"
trials = 1
lambda = 1.0
init_seed = "{mode}"
[evaluators.{prefix}loo]
evaluator = "ridge_rfm"
trials = 1
lambda = "loo"
standardize = true
init_seed = "{mode}"
"""

PLAN = """
name = "bench-ridge-shared"
seed = 0
device = "cpu"
[dataset]
name = "imagefolder"
root = "{root}"
[space]
name = "nb201"
[sampler]
kind = "random"
n = {archs}
valid_only = true
""" + READOUTS.format(prefix="own_", mode="instance") + READOUTS.format(prefix="shared_", mode="shared")

MODES = ("own", "shared")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--data", type=Path, help="image-folder tree (default: unzip a subset of the CIFAR-10 zip)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    tmp = tempfile.TemporaryDirectory()
    root = args.data or unzip_subset(Path(tmp.name), 50, 50)
    registry = load_registry()
    plan = parse_plan(PLAN.format(root=root, archs=args.archs + 1), registry)
    runner = Runner(plan, registry)
    runner.setup()
    evaluators = {}
    for spec in plan.evaluators:
        ev = registry.get("evaluator", spec.plugin)(spec.options)
        ev.prepare(RunContext(runner.data, runner.space, runner.device, plan.seed))
        evaluators[spec.instance] = ev

    print(f"machine: {platform.processor() or platform.machine()}, {device_name(runner.device)}, "
          f"{torch.get_num_threads()} torch threads; torch {torch.__version__}")
    print(f"{args.archs} nb201 archs (C=16, 5 cells), 500 + 500 images of {runner.data.shape}, 1 trial per readout")

    def pair(mode: str, cand) -> tuple[float, float, tuple[float, float]]:
        """Wall and CPU seconds of both readouts of one cell, and their validation accuracies."""
        SHARED_FEATURES.clear()  # nothing carried over from the other mode or the last cell
        t0, c0 = time.perf_counter(), time.process_time()
        accs = tuple(evaluators[name].evaluate(EvalContext(cand.arch, cand.info,
                                                           derive_seed(plan.seed, name, cand.arch.id),
                                                           runner.device)).metrics.get("val_acc", float("nan"))
                     for name in (f"{mode}_fixed", f"{mode}_loo"))
        return time.perf_counter() - t0, time.process_time() - c0, accs

    warm, *cells = runner.candidates
    for mode in MODES:  # untimed warm-up: first calls pick kernels for every shape
        pair(mode, warm)
    wall: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    for k, cand in enumerate(cells):
        line = []
        for mode in MODES[k % 2:] + MODES[:k % 2]:
            secs, cpu_secs, accs = pair(mode, cand)
            wall[mode].append(secs)
            cpu[mode].append(cpu_secs)
            line.append(f"{mode} {secs:5.2f}s val_acc {accs[0]:.3f}/{accs[1]:.3f}")
        print(f"[{k + 1:2d}/{len(cells)}] {cand.arch.id}\n    " + "  ".join(line), flush=True)

    print(f"\n{'features':10s} {'wall mean':>9s} {'CPU mean':>8s}  (seconds per cell, both readouts)")
    for mode in MODES:
        print(f"{mode:10s} {statistics.fmean(wall[mode]):9.2f} {statistics.fmean(cpu[mode]):8.2f}")
    print(f"shared / own: wall {statistics.fmean(wall['shared']) / statistics.fmean(wall['own']):.2f}, "
          f"CPU {statistics.fmean(cpu['shared']) / statistics.fmean(cpu['own']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
