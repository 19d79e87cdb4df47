"""Every training-free score of a NAS-Bench-201 cell: core-seconds today vs now, in one process.

The scores of the NAS-Bench-201 study (SCIENCE.md): NASWOT, the ridge pair (``ridge_rfm``
lambda 1 and ``ridge_loo``, shared features), the eight zero-cost proxies, and params / FLOPs
(``describe``, free). A seeded random sample of ``nb201`` cells (the benchmark's C = 16, 5 cells
per stage) at 32x32, 500 + 500 CIFAR-10 images (the first 50 per class of
``../shared/data/cifar10-jpeg.zip``); every evaluator with the study's options, one
initialisation, through its own ``evaluate`` (the call the runner makes per candidate).

Settings, each cell through all of them in turn (rotating which goes first), after one untimed
warm-up cell:

- **today**: rcx before issue 21, reproduced in this process: PyTorch's ``nn.AvgPool2d`` for
  NAS-Bench-201's pooling (instead of the bit-identical ``AvgPool3x3``), NASWOT's two float32
  products per layer in the contiguous layout, ridge features contiguous, zero-cost proxies
  channels-last on the CPU, each with its own weights.
- **start**: as "contiguous", with the code paths of the start of issue 21's second pass (commit
  d2bb2df, ``benchmarks/issue21_start.py``): NASWOT's bool codes and their row sums, ridge_rfm's
  per-batch normalisation and extra untimed warm-up batch.
- **contiguous**: as "exact" with NASWOT and zen in the contiguous layout (the defaults of issue
  21's second pass).
- **exact** (the defaults, plus ``init_seed = "shared"`` on the five gradient proxies):
  zero-cost proxies other than zen in the reference's contiguous layout, snip / grad_norm /
  grasp / fisher / jacov from one forward-backward computation; NASWOT and zen channels-last on
  a CPU (``layout = "auto"``: within 1e-6 relative of the contiguous layout).
- **channels_last** (as "exact" with ``layout = "channels_last"`` on the zero-cost
  proxies): faster, with the deviations BENCHMARKS.md states.

- **then** (with ``--then COMMIT``): rcx as it was at COMMIT, its own code unpatched, in a
  process of its own (``benchmarks/all_scores_then.py``; COMMIT's tree exported with ``git
  archive``): the check on "today", which reproduces rcx before issue 21 in this process with
  options and patches. ``--then 77f1bf2`` is the commit before issue 21's first merge.

Reported: CPU seconds per cell (``time.process_time``: core-seconds; the steadier figure on a
shared machine, run with ``--threads 1``) per evaluator and in total, and the ratio today / now.

    python benchmarks/all_scores.py [--archs 6] [--threads 1] [--device cpu] [--settings "exact"]
        [--only naswot,ridge_rfm] [--repeats 3] [--then 77f1bf2]

``--only`` times some evaluator instances alone; ``--repeats`` runs every cell several rounds
(settings alternating) and keeps each setting's median round, for small differences on a
loaded machine.

On a GPU the figure to read is wall time per cell and the extrapolation to all 15,625 cells
(``--threads 0``; the device check runs ``--settings "exact"``). ``--images``,
``--channels``, ``--cells`` shrink the problem (the device check's ``--quick`` on a CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rcx.api.device import synchronize
from rcx.api.evaluator import EvalContext, RunContext
from rcx.api.seeding import derive_seed
from rcx.core.device import device_name
from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.evaluators.ridge_rfm import SHARED_FEATURES
from rcx.plugins import load_registry

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder
from issue21_start import naswot_start, ridge_start, start_layer_kernel

ZEROCOST = ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "zen", "zico")
GRADIENT = ("snip", "grad_norm", "grasp", "fisher", "jacov")

PLAN = """
name = "bench-all-scores"
seed = 0
device = "{device}"
[dataset]
name = "imagefolder"
root = "{root}"
[space]
name = "nb201"
channels = {channels}
cells = {cells}
[sampler]
kind = "random"
n = {archs}
valid_only = true
[evaluators.naswot]
batch_size = {naswot_batch}
[evaluators.ridge_rfm]
trials = 1
train_size = {images}
val_size = {images}
init_seed = "shared"
[evaluators.ridge_loo]
evaluator = "ridge_rfm"
trials = 1
train_size = {images}
val_size = {images}
lambda = "loo"
standardize = true
init_seed = "shared"
""" + "".join(f"[evaluators.{n}]\n" + ("" if n == "synflow" else "batch_size = {zc_batch}\n") for n in ZEROCOST)

_SHARED: dict[str, dict[str, Any]] = {n: {"init_seed": "shared"} for n in GRADIENT}
_CONTIGUOUS: dict[str, dict[str, Any]] = {"naswot": {"layout": "contiguous"}, "zen": {"layout": "contiguous"},
                                          **_SHARED}

SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "today": {"ridge_rfm": {"layout": "contiguous"}, "ridge_loo": {"layout": "contiguous"},
              "naswot": {"layout": "contiguous"}, **{n: {"layout": "channels_last"} for n in ZEROCOST}},
    "start": _CONTIGUOUS,  # plus the old code paths of PATCHES
    "contiguous": _CONTIGUOUS,
    "exact": _SHARED,
    "channels_last": {n: {"layout": "channels_last"} | ({"init_seed": "shared"} if n in GRADIENT else {})
                           for n in ZEROCOST},
}


def _old_layer_kernel(codes: torch.Tensor) -> torch.Tensor:
    """NASWOT's layer kernel before issue 21: two float32 products."""
    c = codes.float()
    return (c @ c.T + (1 - c) @ (1 - c).T).double()


@contextlib.contextmanager
def start(naswot_kernel: Any = start_layer_kernel) -> Iterator[None]:
    """rcx's code paths at the start of issue 21's second pass (``benchmarks/issue21_start.py``)."""
    with ridge_start(), naswot_start(naswot_kernel):
        yield


@contextlib.contextmanager
def today() -> Iterator[None]:
    """rcx's code paths before issue 21 that options cannot select: :func:`start`'s, with
    PyTorch's pooling and NASWOT's two float32 products."""
    import rcx.nn.nb201 as nb201

    saved = nb201.AvgPool3x3
    nb201.AvgPool3x3 = lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    try:
        with start(_old_layer_kernel):
            yield
    finally:
        nb201.AvgPool3x3 = saved


PATCHES = {"today": today, "start": start}
"""Settings that need old code paths, not only options."""


class Then:
    """rcx at ``commit`` in a worker process (``benchmarks/all_scores_then.py``) on the same plan
    file: ``cell(k)`` runs candidate k's evaluators there and returns their CPU seconds."""

    def __init__(self, commit: str, plan_text: str, threads: int, folder: Path) -> None:
        repo = Path(__file__).resolve().parents[1]
        tree = folder / f"rcx-{commit}"
        tree.mkdir()
        proc = subprocess.run(["git", "-C", str(repo), "archive", commit], capture_output=True)
        if proc.returncode:
            raise RuntimeError(f"git archive {commit}: {proc.stderr.decode(errors='replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            tar.extractall(tree, filter="data")
        (folder / "then.toml").write_text(plan_text)
        path = os.pathsep.join(str(tree / p) for p in ("", "plugins/rcx-naswot", "plugins/rcx-zerocost"))
        env = os.environ | {"PYTHONPATH": path}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("all_scores_then.py")),
                                      str(folder / "then.toml"), str(threads)], cwd=tree, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self._reply()
        if not str(ready.get("ready", "")).startswith(str(tree)):
            raise RuntimeError(f"the worker imported rcx from {ready.get('ready')}, not from {tree}")
        self.wall = 0.0

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the rcx-at-commit worker stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def cell(self, k: int, arch_id: str) -> dict[str, float]:
        """CPU seconds per evaluator of candidate ``k``, which must be ``arch_id`` there too (the
        commit's sampler drew the same cells)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{k}\n")
        self.proc.stdin.flush()
        reply = self._reply()
        self.wall = reply.pop("wall")
        if (theirs := reply.pop("arch")) != arch_id:
            raise RuntimeError(f"candidate {k} is {theirs} at the commit, {arch_id} here: not the same cells")
        return reply

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


def main() -> int:
    from rcx_zerocost.evaluators import SHARED_GRADIENTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=6)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--data", type=Path, help="image-folder tree (default: unzip a subset of the CIFAR-10 zip)")
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings to run")
    ap.add_argument("--images", type=int, default=500, help="ridge train and validation images (study: 500)")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--only", help="comma-separated evaluator instances to run (default: all)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="rounds per cell (settings alternate in each); a cell's figure is its median round")
    ap.add_argument("--then", metavar="COMMIT",
                    help="also time rcx as it was at COMMIT, unpatched, in a worker process (setting 'then')")
    args = ap.parse_args()
    names = [n.strip() for n in args.settings.split(",")]
    unknown = set(names) - set(SETTINGS)
    if unknown:
        ap.error(f"unknown settings {sorted(unknown)} (known: {', '.join(SETTINGS)})")
    if args.threads:
        torch.set_num_threads(args.threads)

    tmp = tempfile.TemporaryDirectory()
    per_class = -(-args.images // 10)
    root = args.data or unzip_subset(Path(tmp.name), max(per_class, 13), per_class)
    registry = load_registry()
    plan_text = PLAN.format(device=args.device, root=root, archs=args.archs + 1, channels=args.channels,
                            cells=args.cells, images=args.images, naswot_batch=min(128, args.images),
                            zc_batch=min(64, args.images))
    plan = parse_plan(plan_text, registry)
    runner = Runner(plan, registry)
    runner.setup()
    run_ctx = RunContext(runner.data, runner.space, runner.device, plan.seed)
    evaluators: dict[str, dict[str, Any]] = {}
    for setting in names:
        overrides = SETTINGS[setting]
        evaluators[setting] = {}
        with PATCHES.get(setting, contextlib.nullcontext)():  # some old paths begin in prepare
            for spec in (e for e in plan.evaluators if not args.only or e.instance in args.only.split(",")):
                ev = registry.get("evaluator", spec.plugin)(spec.options | overrides.get(spec.instance, {}))
                ev.prepare(run_ctx)
                evaluators[setting][spec.instance] = ev

    then = None
    if args.then:
        if args.only:
            ap.error("--then times every evaluator of the plan; leave --only out")
        try:
            then = Then(args.then, plan_text, args.threads, Path(tmp.name))
        except RuntimeError as e:
            ap.error(f"--then: {e}")
        names.append("then")

    print(f"machine: {platform.processor() or platform.machine()}, {device_name(runner.device)}; "
          f"torch {torch.__version__}")
    print(f"{args.archs} nb201 cells (C={args.channels}, {args.cells} cells per stage) at {runner.data.shape}, "
          f"1 initialisation each")
    wall: dict[str, list[float]] = {s: [] for s in names}

    def run(setting: str, cand: Any) -> dict[str, float]:
        """CPU seconds per evaluator of one cell under ``setting``; its wall time goes to ``wall``."""
        if setting == "then":
            assert then is not None
            secs = then.cell(runner.candidates.index(cand), cand.arch.id)
            wall[setting].append(then.wall)
            return secs
        secs = {}
        w0 = time.perf_counter()
        SHARED_FEATURES.clear()  # no setting reuses another's features or gradients
        SHARED_GRADIENTS.clear()
        with PATCHES.get(setting, contextlib.nullcontext)():
            for inst, ev in evaluators[setting].items():
                ctx = EvalContext(cand.arch, cand.info, derive_seed(plan.seed, inst, cand.arch.id), runner.device)
                c0 = time.process_time()
                ev.evaluate(ctx)
                synchronize(runner.device)
                secs[inst] = time.process_time() - c0
        wall[setting].append(time.perf_counter() - w0)
        return secs

    for setting in names:  # untimed warm-up
        run(setting, runner.candidates[0])
        wall[setting].clear()
    cpu: dict[str, list[dict[str, float]]] = {s: [] for s in names}
    for k, cand in enumerate(runner.candidates[1:]):
        order = names[k % len(names):] + names[:k % len(names)]
        rounds: dict[str, list[dict[str, float]]] = {s: [] for s in names}
        for r in range(args.repeats):
            for setting in (order if r % 2 == 0 else order[::-1]):
                rounds[setting].append(run(setting, cand))
        line = []
        for setting in order:
            secs = sorted(rounds[setting], key=lambda c: sum(c.values()))[(args.repeats - 1) // 2]  # the median round
            cpu[setting].append(secs)
            line.append(f"{setting} {sum(secs.values()):5.2f}s")
        print(f"[{k + 1:2d}/{args.archs}] {cand.arch.id}\n    " + "  ".join(line), flush=True)

    insts = list(evaluators[names[0]])
    print(f"\nCPU seconds per cell (mean over {args.archs} cells)")
    print(f"{'evaluator':12s}" + "".join(f"{s:>20s}" for s in names))
    for inst in insts:
        print(f"{inst:12s}" + "".join(f"{statistics.fmean(c[inst] for c in cpu[s]):20.3f}" for s in names))
    totals = {s: statistics.fmean(sum(c.values()) for c in cpu[s]) for s in names}
    print(f"{'total':12s}" + "".join(f"{totals[s]:20.3f}" for s in names))
    for s in names:
        w = statistics.fmean(wall[s])
        print(f"{s}: wall {w:.3f} s per cell; all 15,625 NAS-Bench-201 cells: {w * 15625 / 60:.1f} min")
    if then is not None:
        then.close()
    bases = [b for b in ("then", "today", "start") if b in names]
    for i, base in enumerate(bases):
        for s in (n for n in names if n not in bases[:i + 1]):
            ratios = [sum(a.values()) / sum(b.values()) for a, b in zip(cpu[base], cpu[s])]
            print(f"{base} / {s}: {totals[base] / totals[s]:.2f}x on the mean, per-cell median "
                  f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")
            for inst in (i for i in ("naswot", "ridge_rfm") if i in cpu[base][0]):
                r = [a[inst] / b[inst] for a, b in zip(cpu[base], cpu[s])]
                mean = statistics.fmean(c[inst] for c in cpu[base]) / statistics.fmean(c[inst] for c in cpu[s])
                print(f"    {inst}: {mean:.3f}x on the mean, per-cell median {statistics.median(r):.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
