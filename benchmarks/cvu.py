"""CV_U speed against a plain per-initialisation float32 loop, in one process.

20 `nb201` architectures (seeded random sample, the benchmark's C = 16 / 5 cells) x 100
initialisations x one fixed batch of 256 CIFAR-10 training images (seeded draw from the first
50 images of each class of ``../shared/data/cifar10-jpeg.zip``). Per architecture, interleaved
alternating which side goes first, so that machine noise hits both sides alike:

- **reference**: the CV_U reference procedure as a plain loop: NAS-Bench-201's network
  computing every edge, re-initialised (He normal fan-out, the same seeded weights as rcx) and
  run in float32 under ``no_grad`` in train mode, once per initialisation.
- **rcx**: the ``cvu`` evaluator (the runner's executor calls exactly this per candidate) with
  ``path``/``dtype`` on ``auto`` (on a CPU: the loop with bf16 autocast where native,
  channels-last, dead edges skipped, and the bf16 check against float32 on the first 3
  initialisations included in its time).

Both see the same weights and images, so the untrained accuracies are compared one by one.

    python benchmarks/cvu.py [--archs 20] [--inits 100] [--batch 256] [--device cpu] [--data DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from rcx.api.device import synchronize
from rcx.api.evaluator import EvalContext, RunContext
from rcx.api.init import init_weights
from rcx.api.options import validate_options
from rcx.api.seeding import generator
from rcx.core.device import device_name
from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.evaluators.cvu import CVU
from rcx.plugins import load_registry

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder

PLAN = """
name = "bench-cvu"
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
[evaluators.cvu]
n_init = {inits}
batch_size = {batch}
"""



def reference(space, arch, ev: CVU, n_init: int) -> tuple[float, np.ndarray]:
    """Seconds and U_i of the plain loop: every edge computed, float32, one init at a time."""
    x = ev.x.contiguous()  # NCHW, the same normalised batch as rcx
    net = nn.Sequential(space.build(arch, ev.in_shape, prune_unreachable=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4 * space.channels, ev.num_classes)).to(x.device).train()
    u = []
    synchronize(x.device)
    t0 = time.perf_counter()
    for i in range(n_init):
        init_weights(net, "kaiming_normal", generator(ev.seed, "cvu", "init", i))
        with torch.no_grad():
            u.append((net(x).argmax(1) == ev.y).sum().item() / ev.y.numel())
    synchronize(x.device)
    return time.perf_counter() - t0, np.array(u)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--inits", type=int, default=100)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", type=Path, help="image-folder tree (default: unzip a subset of the CIFAR-10 zip)")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    root = args.data or unzip_subset(Path(tmp.name), 50, 10)
    registry = load_registry()
    plan = parse_plan(PLAN.format(device=args.device, root=root, archs=args.archs, inits=args.inits, batch=args.batch),
                      registry)
    runner = Runner(plan, registry)
    runner.setup()
    values, _ = validate_options(CVU.options, plan.evaluators[0].options, "cvu")
    ev = CVU(values)
    ev.prepare(RunContext(runner.data, runner.space, runner.device, plan.seed))
    space = runner.space

    print(f"machine: {platform.processor() or platform.machine()}, {device_name(runner.device)}; "
          f"torch {torch.__version__}")
    print(f"{args.archs} nb201 archs x {args.inits} inits x {args.batch} CIFAR-10 images; rcx path {ev.path}, "
          f"dtype {ev.dtype}")
    # Untimed warm-up of both sides: first calls pick kernels for every shape (seconds on a CPU).
    warm = space.from_id("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
                         "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    reference(space, warm, ev, 2)
    warm_ev = CVU(values | {"n_init": 4})
    warm_ev.prepare(RunContext(runner.data, runner.space, runner.device, plan.seed))
    warm_ev.evaluate(EvalContext(warm, space.describe(warm, runner.data.shape), 0, runner.device))

    t_ref = t_rcx = 0.0
    ratios: list[float] = []
    diffs, cv_ref, cv_rcx, dtypes = [], [], [], []
    for k, cand in enumerate(runner.candidates):
        def run_rcx(cand=cand):
            t0 = time.perf_counter()
            out = ev.evaluate(EvalContext(cand.arch, cand.info, 0, runner.device))
            return time.perf_counter() - t0, out

        if k % 2:  # alternate which side goes first, so drifting load hits both alike
            secs_rcx, result = run_rcx()
            secs, u_ref = reference(space, cand.arch, ev, args.inits)
        else:
            secs, u_ref = reference(space, cand.arch, ev, args.inits)
            secs_rcx, result = run_rcx()
        t_ref += secs
        t_rcx += secs_rcx
        ratios.append(secs / secs_rcx)
        u_rcx = np.array([t["u"] for t in result.trials])
        diffs.append(np.abs(u_rcx - u_ref))
        if u_ref.std() > 0 and u_rcx.std() > 0:
            cv_ref.append(u_ref.std() / u_ref.mean())
            cv_rcx.append(u_rcx.std() / u_rcx.mean())
        dtypes.append(result.extra["dtype"])
        print(f"[{k + 1:2d}/{len(runner.candidates)}] ref {secs:7.2f}s  rcx {secs_rcx:7.2f}s  "
              f"status {result.status:10s} dtype {result.extra['dtype']:8s} max|dU| {diffs[-1].max():.4f}  "
              f"{cand.arch.id}", flush=True)
        sys.stdout.flush()

    d = np.concatenate(diffs)
    rho = spearmanr(cv_ref, cv_rcx).statistic if len(cv_ref) > 2 else float("nan")
    print(f"reference {t_ref:.1f}s ({args.archs / t_ref:.3f} arch/s), "
          f"rcx {t_rcx:.1f}s ({args.archs / t_rcx:.3f} arch/s): ratio {t_ref / t_rcx:.2f}x "
          f"(per architecture: median {np.median(ratios):.2f}x, "
          f"geometric mean {np.exp(np.log(ratios).mean()):.2f}x)")
    print(f"U_i rcx vs reference: mean |dU| {d.mean():.5f}, max |dU| {d.max():.4f}, identical {np.mean(d == 0):.1%}; "
          f"Spearman of CV_U over {len(cv_ref)} non-degenerate archs {rho:.4f}; dtypes used {sorted(set(dtypes))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
