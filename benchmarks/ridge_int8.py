"""int8 against bf16 random features: seed 001's ``ksd`` layers and networks, one thread, CPU seconds.

Go/no-go for issue 21's ridge-RFM target: VNNI does twice bf16's multiply-accumulates per
instruction, so does PyTorch's int8 convolution (``torch.ao`` quantized kernels, ``x86`` engine:
oneDNN) beat today's bf16 channels-last forward on this project's CPU?

- **bf16**: the forward as ``ridge_rfm`` runs it today (bf16 autocast, channels-last, the staged
  float32 input, unread convolution outputs skipped: :func:`rcx.nn.features.batched_features`);
- **int8**: :func:`rcx.nn.int8.quantize_stack` on the same network (per-channel symmetric int8
  weights, per-tensor uint8 activations observed on the first batch, ``Conv2d -> ReLU`` fused),
  then per batch: quantize the float input, the quantized stack, dequantize, flatten. Calibration
  (a bf16 forward of the first batch; ``--calibrate-f32``: float32) and every quantize/dequantize count.

Part 1, layers: representative convolutions of the sample (a first layer on 3 channels, 32->32
with dilation and stride), 32 images each, the best of 5. Part 2, networks: the 30 architectures
and the 1,000 CIFAR-10 images of ``benchmarks/ridge_rfm.py`` (96x96), each network's whole
feature pass (train + validation) per side, alternating which side goes first; also the int8
features' error against float32 on the first batch (max |int8 - float32| over max |float32|).

    python benchmarks/ridge_int8.py [--archs 30] [--layers-only] [--calibrate-f32]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from ridge_rfm import PLAN  # the same plan as the end-to-end benchmark
from torch import nn

from rcx.api.evaluator import RunContext
from rcx.api.init import init_weights
from rcx.api.seeding import derive_seed, generator
from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.nn.features import batched_features
from rcx.nn.int8 import quantize_stack
from rcx.nn.unread import skip_unread_outputs
from rcx.plugins import load_registry

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder

clock = time.process_time
LAYERS = [  # (C_in, C_out, kernel, stride, dilation, input side)
    (3, 32, 7, 1, 3, 96),
    (3, 32, 3, 2, 1, 96),
    (32, 32, 5, 1, 3, 90),
    (32, 32, 3, 1, 1, 90),
    (32, 32, 9, 2, 2, 80),
    (32, 32, 5, 3, 1, 46),
]


def best(fn: Callable[..., object], *args: object, n: int = 5) -> float:
    """Least CPU seconds of ``n`` calls of ``fn(*args)`` after two untimed ones."""
    fn(*args), fn(*args)
    times = []
    for _ in range(n):
        c0 = clock()
        fn(*args)
        times.append(clock() - c0)
    return min(times)


def layers() -> None:
    print("layers (32 images, one Conv2d -> ReLU as inside a network, unflattened; ms CPU, best of 5):")
    print(f"{'C_in C_out k s d side':>24} {'bf16':>7} {'int8':>7} {'bf16/int8':>9} {'int8 + q/dq':>12} {'err':>7}")
    for c_in, c_out, k, s, d, side in LAYERS:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=s, dilation=d), nn.ReLU())
        model = model.to(memory_format=torch.channels_last)
        x = torch.randn(32, c_in, side, side) if c_in == 3 else torch.randn(32, c_in, side, side).relu()
        x = x.contiguous(memory_format=torch.channels_last)
        q = quantize_stack(model, x)
        with torch.inference_mode():
            xb = x.bfloat16()  # inside a network, the previous layer's bf16 output
            with torch.autocast("cpu", dtype=torch.bfloat16):
                t_bf16 = best(model, xb)
            qx = torch.quantize_per_tensor(x, q.input_q.scale, q.input_q.zero_point, torch.quint8)
            t_int8 = best(q.layers, qx)  # inside a network, the previous layer's quint8 output
            t_qdq = best(q, x)  # quantize the float input, dequantize the output
            ref = model(x)
            err = float((q(x) - ref).abs().max() / ref.abs().max())
        print(f"{c_in:>4} {c_out:>4} {k:>2} {s} {d} {side:>5}    {1e3 * t_bf16:7.1f} {1e3 * t_int8:7.1f} "
              f"{t_bf16 / t_int8:8.2f}x {1e3 * t_qdq:12.1f} {err:7.4f}", flush=True)


def networks(archs: int, calibrate_f32: bool, headroom: float) -> None:
    registry = load_registry()
    tmp = tempfile.TemporaryDirectory()
    root = unzip_subset(Path(tmp.name) / "cifar", 50, 50)
    plan = parse_plan(PLAN.format(root=root, archs=archs, trials=1, device="cpu", resize=96, images=500), registry)
    runner = Runner(plan, registry)
    runner.setup()
    spec = plan.evaluators[0]
    ev = registry.get("evaluator", spec.plugin)(spec.options)
    ev.prepare(RunContext(runner.data, runner.space, runner.device, plan.seed))
    assert ev.dtype == torch.bfloat16 and ev.channels_last, "this benchmark compares against bf16 channels-last"
    inputs, b = ev.inputs, ev.batch_size
    calibration = torch.float32 if calibrate_f32 else torch.bfloat16

    def build(cand) -> nn.Module:
        model = runner.space.build(cand.arch, runner.data.shape)
        skip_unread_outputs(model)
        model = model.to(memory_format=torch.channels_last).train()
        init_weights(model, "default", generator(derive_seed(plan.seed, spec.instance, cand.arch.id), "trial", 0))
        return model

    def bf16(model: nn.Module) -> list[list[torch.Tensor]]:
        return [[f for _, f in batched_features(model, x, None, b, torch.bfloat16, channels_last=True)]
                for x in inputs]

    def int8(model: nn.Module) -> list[list[torch.Tensor]]:
        q = quantize_stack(model, inputs[0][:b], calibration, headroom)
        with torch.inference_mode():
            return [[q(x[i:i + b]).flatten(1) for i in range(0, x.shape[0], b)] for x in inputs]

    def accuracy(feats: list[list[torch.Tensor]]) -> float:
        train, val = (ev._batches(torch.cat(f)) for f in feats)
        return ev._readout(train, val, feats[0][0].shape[1])["val_acc"]

    def error(model: nn.Module, x: torch.Tensor) -> float:
        """max |int8 - float32| / max |float32| on the batch ``x``."""
        with torch.inference_mode():
            ref = model(x)
            return float((quantize_stack(model, inputs[0][:b], calibration, headroom)(x) - ref).abs().max()
                         / ref.abs().max())

    model = build(runner.candidates[0])
    bf16(model), int8(model)  # untimed: first calls pick kernels
    rows = []
    print(f"\nnetworks ({archs} ksd architectures, {sum(x.shape[0] for x in inputs)} images at 96x96, batch {b}; "
          f"calibration in {str(calibration).removeprefix('torch.')}, headroom {headroom}; CPU s per network's "
          "feature pass; val accuracy of the ridge readout (lambda 1) on each side's features; int8 error vs "
          "float32 on the calibration batch / the last validation batch):")
    for k, cand in enumerate(runner.candidates):
        model = build(cand)
        row, feats = {}, {}
        for name, side in (("bf16", bf16), ("int8", int8))[:: 1 if k % 2 else -1]:
            c0 = clock()
            feats[name] = side(model)
            row[name] = clock() - c0
        c0 = clock()
        quantize_stack(model, inputs[0][:b], calibration, headroom)
        row["calibration"] = clock() - c0
        row |= {f"acc {name}": accuracy(f) for name, f in feats.items()}
        row["err"], row["err val"] = error(model, inputs[0][:b]), error(model, inputs[1][-b:])
        rows.append(row)
        print(f"[{k + 1:2d}/{archs}] bf16 {row['bf16']:6.3f}  int8 {row['int8']:6.3f} (calibration "
              f"{row['calibration']:.3f})  {row['bf16'] / row['int8']:5.2f}x  acc {100 * row['acc bf16']:5.1f} / "
              f"{100 * row['acc int8']:5.1f} %  err {row['err']:.4f} / {row['err val']:.4f}  {cand.arch.id}",
              flush=True)
    t_bf16, t_int8 = sum(r["bf16"] for r in rows), sum(r["int8"] for r in rows)
    ratios = [r["bf16"] / r["int8"] for r in rows]
    diffs = [100 * (r["acc int8"] - r["acc bf16"]) for r in rows]
    print(f"\nCPU seconds over {archs} networks: bf16 {t_bf16:.2f}, int8 {t_int8:.2f} (calibration "
          f"{sum(r['calibration'] for r in rows):.2f}): bf16 / int8 {t_bf16 / t_int8:.2f}x (per network median "
          f"{statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x)")
    print(f"mean val accuracy bf16 {statistics.mean(100 * r['acc bf16'] for r in rows):.2f} %, int8 "
          f"{statistics.mean(100 * r['acc int8'] for r in rows):.2f} % (int8 - bf16 per network: mean "
          f"{statistics.mean(diffs):+.2f}, range {min(diffs):+.1f} to {max(diffs):+.1f} points)")
    for key, what in (("err", "calibration batch"), ("err val", "last validation batch")):
        print(f"int8 error vs float32 on the {what}: median {statistics.median(r[key] for r in rows):.4f}, "
              f"max {max(r[key] for r in rows):.4f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=30)
    ap.add_argument("--layers-only", action="store_true")
    ap.add_argument("--calibrate-f32", action="store_true", help="calibrate in float32 (default: bf16 autocast)")
    ap.add_argument("--headroom", type=float, default=1.0, help="widen every convolution's calibrated range by this")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, 1 thread, torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}")
    layers()
    if not args.layers_only:
        networks(args.archs, args.calibrate_f32, args.headroom)
    return 0


if __name__ == "__main__":
    sys.exit(main())
