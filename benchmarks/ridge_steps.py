"""Where ridge-RFM's 1-trial time goes, against seed 001's procedure, step by step, in one process.

The architectures and data of ``benchmarks/ridge_rfm.py`` (seeded ``ksd`` sample, 500 + 500
CIFAR-10 images at 96x96, lambda 1, one trial). Per architecture, alternating which side goes
first, CPU seconds (``time.process_time``: core-seconds, the steadier figure on a shared
machine; run with ``--threads 1``) of:

- **reference** (seed 001's script): ``features``, the float32 forward of the 1,000 images in
  batches of 32 under ``no_grad`` (network build and PyTorch-default init included), and
  ``sklearn``, ``RidgeClassifier().fit`` + ``predict``;
- **rcx**: ``evaluate``, the evaluator's whole call (what the runner times per candidate), and
  inside it ``features``, the same forward passes as the evaluator runs them (bf16 autocast where
  the CPU has AVX512-BF16, else float32: ``dtype = "auto"`` as it was before ridge_rfm version 3,
  whose ``auto`` picks int8 on VNNI CPUs, see ``--int8``; channels-last, the input staged once per
  run, unread convolution outputs skipped), measured again on their own; ``evaluate - features`` is the rest: build,
  initialisation, the ridge solve and the prediction. ``start`` is ``evaluate`` with the code
  paths of the start of issue 21's second pass (``benchmarks/issue21_start.py``: per-batch
  normalisation, an extra warm-up batch, every convolution output computed).

The ratio ``reference total / rcx features`` is the most any change outside the forward passes
could give at this precision; ``reference features / rcx features`` is the forward passes' own.
``--int8`` adds ``rcx int8 evaluate`` and ``rcx int8 features``: the same with
``dtype = "int8"`` (the same weights; the features include the int8 network's calibration).

    python benchmarks/ridge_steps.py [--archs 30] [--threads 1] [--int8]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ridge_rfm import PLAN  # the same plan as the end-to-end benchmark
from sklearn.linear_model import RidgeClassifier

from rcx.api.evaluator import EvalContext, RunContext
from rcx.api.init import init_weights
from rcx.api.seeding import derive_seed, generator
from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.nn.features import batched_features, choose_dtype
from rcx.nn.unread import skip_unread_outputs
from rcx.plugins import load_registry

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder
from issue21_start import ridge_start


def float_options(options: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """``options`` with ``dtype = "auto"`` pinned to the float precision ``auto`` meant before
    ridge_rfm version 3 (bfloat16 where the device computes it natively, else float32): on a CPU
    with VNNI ``auto`` now evaluates ``ksd`` stacks in int8, while the ``rcx features`` column
    and the ``bf16 / int8`` ratios measure the float forward."""
    if options.get("dtype", "auto") != "auto":
        return dict(options)
    return {**options, "dtype": str(choose_dtype("auto", device)).removeprefix("torch.")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--resize", type=int, default=96)
    ap.add_argument("--int8", action="store_true", help='also ridge_rfm with dtype = "int8"')
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    registry = load_registry()
    tmp = tempfile.TemporaryDirectory()
    root = unzip_subset(Path(tmp.name) / "cifar", args.per_class, args.per_class)
    images = 10 * args.per_class
    plan = parse_plan(PLAN.format(root=root, archs=args.archs, trials=1, device="cpu", resize=args.resize,
                                  images=images), registry)
    runner = Runner(plan, registry)
    runner.setup()
    data, space, spec = runner.data, runner.space, plan.evaluators[0]
    options = float_options(spec.options, runner.device)
    ev, old = (registry.get("evaluator", spec.plugin)(options) for _ in range(2))
    ev.prepare(RunContext(data, space, runner.device, plan.seed))
    ev8 = registry.get("evaluator", spec.plugin)({**spec.options, "dtype": "int8"}) if args.int8 else None
    if ev8 is not None:
        ev8.prepare(RunContext(data, space, runner.device, plan.seed))
    with ridge_start():
        old.prepare(RunContext(data, space, runner.device, plan.seed))
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    clock = time.process_time
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; rcx dtype {ev.dtype}, channels_last {ev.channels_last}")

    def reference(cand) -> dict[str, float]:
        c0 = clock()
        model = space.build(cand.arch, data.shape)

        def feats(x: torch.Tensor):
            with torch.no_grad():
                return torch.cat([model((x[i:i + 32].float() / 255 - mean) / std).flatten(1)
                                  for i in range(0, len(x), 32)]).numpy()

        train, val = feats(data.train_x[:images]), feats(data.test_x[:images])
        c1 = clock()
        RidgeClassifier().fit(train, data.train_y[:images].numpy()).predict(val)
        return {"ref features": c1 - c0, "ref sklearn": clock() - c1}

    def rcx(cand) -> dict[str, float]:
        ctx = EvalContext(cand.arch, cand.info, derive_seed(plan.seed, spec.instance, cand.arch.id), runner.device)
        c0 = clock()
        with ridge_start():
            old.evaluate(ctx)
        c1 = clock()
        ev.evaluate(ctx)
        c2 = clock()
        model = space.build(cand.arch, data.shape)
        skip_unread_outputs(model)
        model = model.to(memory_format=torch.channels_last if ev.channels_last else torch.contiguous_format)
        init_weights(model.train(), "default", generator(ctx.seed, "trial", 0))
        c3 = clock()
        forward(ev, model)
        out = {"rcx start": c1 - c0, "rcx evaluate": c2 - c1, "rcx features": clock() - c3}
        if ev8 is not None:
            c0 = clock()
            ev8.evaluate(ctx)
            c1 = clock()
            forward(ev8, ev8._quantize(model))
            out |= {"rcx int8 evaluate": c1 - c0, "rcx int8 features": clock() - c1}
        return out

    def forward(ev, model) -> None:
        """The forward passes of ``ev``'s inputs through ``model`` as ``ev.evaluate`` runs them."""
        dtype = torch.float32 if ev.int8 else ev.dtype  # int8: the quantized stack takes float32
        for x in ev.inputs:
            normalize = None if x.is_floating_point() else ev.normalize
            for _ in batched_features(model, x, normalize, ev.batch_size, dtype, channels_last=ev.channels_last):
                pass

    rcx(runner.candidates[0])  # untimed warm-up: first calls pick kernels
    reference(runner.candidates[0])
    rows = []
    for k, cand in enumerate(runner.candidates):
        row = {}
        for side in ((reference, rcx) if k % 2 else (rcx, reference)):
            row |= side(cand)
        rows.append(row)
        print(f"[{k + 1:2d}/{args.archs}] " + "  ".join(f"{n} {v:6.3f}" for n, v in row.items()) + f"  {cand.arch.id}",
              flush=True)
    total = {n: sum(r[n] for r in rows) for n in rows[0]}
    ref, rcx_eval, rcx_feat = total["ref features"] + total["ref sklearn"], total["rcx evaluate"], total["rcx features"]
    print(f"\nCPU seconds over {args.archs} architectures: " + ", ".join(f"{n} {v:.2f}" for n, v in total.items()))
    print(f"rcx: forward passes {rcx_feat / rcx_eval:.1%} of evaluate, the rest {rcx_eval - rcx_feat:.2f} s "
          f"({(rcx_eval - rcx_feat) / args.archs:.3f} s per architecture)")
    print(f"start / evaluate {total['rcx start'] / rcx_eval:.3f}x (per-architecture median "
          f"{statistics.median(r['rcx start'] / r['rcx evaluate'] for r in rows):.3f}x); reference / start "
          f"{ref / total['rcx start']:.2f}x")
    print(f"reference / rcx evaluate {ref / rcx_eval:.2f}x (per-architecture median "
          f"{statistics.median((r['ref features'] + r['ref sklearn']) / r['rcx evaluate'] for r in rows):.2f}x); "
          f"forward passes alone {total['ref features'] / rcx_feat:.2f}x; "
          f"ceiling (reference / rcx forward passes) {ref / rcx_feat:.2f}x")
    if ev8 is not None:
        int8_eval, int8_feat = total["rcx int8 evaluate"], total["rcx int8 features"]
        median = statistics.median((r["ref features"] + r["ref sklearn"]) / r["rcx int8 evaluate"] for r in rows)
        print(f"int8: reference / rcx int8 evaluate {ref / int8_eval:.2f}x (per-architecture median {median:.2f}x);"
              f" evaluate bf16 / int8 {rcx_eval / int8_eval:.2f}x, forward passes bf16 / int8 "
              f"{rcx_feat / int8_feat:.2f}x ({int8_feat / int8_eval:.1%} of int8 evaluate); ceiling "
              f"{ref / int8_feat:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
