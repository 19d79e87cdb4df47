"""Training and validation cost of the training evaluators' memory layouts on one device:
contiguous (NCHW, PyTorch's default; rcx's ``layout = "auto"`` on a CPU) against channels-last
(NHWC) float32, and channels-last under bf16 autocast for reference (``dtype = "bfloat16"``);
``--layouts "contiguous,contiguous float64"`` measures how far float32 rounding alone moves the
same training (the whole network in float64).

Models, built as the evaluators build them (space module + rcx's classifier head, PyTorch's
default init from one seed):

- ``--cells`` NAS-Bench-201 cells (C = 16, 5 cells per stage), a seeded random sample of the
  15,625 (``trained``);
- ResNet-20-16 (``resnet_lc`` with E = 0; ``trained``);
- ResNet-LC-20-16x8 with frozen spatial filters, folded (``lc_frozen``'s default, Appendix-A
  schedule: lr 0.01 cosine to 0, Nesterov, weight decay 0.01, label smoothing 0.1), ``--kernel``;
- ResNet-20-16 with partial filters, ``--fraction`` of every conv's output filters learned
  (``partial_filters``).

Per model and layout: CPU seconds per 1,000 image-epochs of the optimiser steps (the loop's
``train_cpu_seconds``: process CPU time, ``time.process_time``, so other processes sharing the
cores do not count) and of validation (eval mode, ``--val`` test images, batch 500), the
minimum over ``--reps`` repetitions (the first pays for oneDNN's kernel selection); the ratio
contiguous / channels-last; and how far each layout's final training loss and validation
accuracy land from contiguous float32's after one epoch from the same init over the same
batches (float rounding, amplified by training).

    RCX_CIFAR_ZIP=../shared/data/cifar10-jpeg.zip python benchmarks/train_layout.py \\
        [--cells 6] [--train 512] [--val 500] [--batch 32] [--reps 2] [--threads 1]

Images: the first ``--train`` training and ``--val`` test JPEGs of the CIFAR-10 zip
(class-balanced; see benchmarks/cifar_subset.py), or ``--data DIR`` (an image-folder tree).
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from rcx.api import cache_dir
from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.data.imagefolder import ImageFolderProvider
from rcx.nn.lc import freeze_spatial, set_folded
from rcx.nn.partial import partialize
from rcx.nn.resnet_lc import cifar_resnet
from rcx.nn.train import Classifier, DeviceData, TrainConfig, accuracy, train
from rcx.spaces.nb201 import NB201Space

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder

LAYOUTS = {"contiguous": (False, torch.float32), "channels_last": (True, torch.float32),
           "channels_last bf16": (True, torch.bfloat16), "contiguous float64": (False, torch.float64)}
"""label: (channels_last, dtype): float32, bf16 autocast, or the whole network in float64 (how far
plain float32 rounding alone moves a short training); the first measured is the reference of
the ratios and differences."""


class InFloat64(nn.Module):
    """``model`` in float64: (B, C, H, W) float32 in, the model's output in float64."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.double())

TRAINED = TrainConfig(epochs=1, batch_size=32)  # trained / partial_filters defaults
LC = TrainConfig(epochs=1, batch_size=32, lr=0.01, min_lr=0.0, momentum=0.9, nesterov=True, weight_decay=0.01,
                 label_smoothing=0.1)  # lc_frozen's (Appendix A)


def models(cells: int, seed: int, kernel: int, fraction: float,
           classes: int) -> Iterator[tuple[str, nn.Module, TrainConfig]]:
    """(label, initialised model, training config) per benchmarked model."""
    space = NB201Space(channels=16, cells=5)
    rng = random.Random(seed)
    for index in rng.sample(range(len(space)), cells):
        arch = space.arch_at(index)
        features = space.build(arch, (3, 32, 32))
        with torch.no_grad():
            width = features(torch.zeros(2, 3, 32, 32)).flatten(1).shape[1]
        yield f"nb201 #{index}", _init(Classifier(features, width, classes)), TRAINED
    yield "ResNet-20-16", _init(Classifier(cifar_resnet(20, 16, 0, 3), 64, classes)), TRAINED
    lc = Classifier(cifar_resnet(20, 16, 8, kernel), 64, classes)
    set_folded(lc, True)
    _init(lc)
    freeze_spatial(lc)
    yield f"ResNet-LC-20-16x8 k{kernel} frozen", lc, LC
    partial = _init(Classifier(cifar_resnet(20, 16, 0, 3), 64, classes))
    partialize(partial.features, fraction=fraction)
    yield f"ResNet-20-16 partial {fraction:g}", partial, TRAINED


def _init(model: nn.Module) -> nn.Module:
    init_weights(model, "default", generator(0, "init"))
    return model


def measure(model: nn.Module, data: DeviceData, cfg: TrainConfig, channels_last: bool, dtype: torch.dtype,
            reps: int) -> tuple[float, float, float, float]:
    """(train CPU s per 1k image-epochs, validation CPU s per 1k images, train_loss, val_acc),
    times the minimum over ``reps`` runs from ``model``'s weights (which stay untouched)."""
    f64 = dtype == torch.float64
    cfg = replace(cfg, channels_last=channels_last, dtype=torch.float32 if f64 else dtype, eval_every=0)
    train_s, val_s, loss, acc = math.inf, math.inf, math.nan, math.nan
    for _ in range(reps):
        net = InFloat64(copy.deepcopy(model)) if f64 else copy.deepcopy(model)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        out = train(net, data, cfg, seed=1)
        train_s = min(train_s, out.train_cpu_seconds / out.epochs / (data.train_x.shape[0] / 1000))
        c0 = time.process_time()
        acc = accuracy(net, data.val_x, data.val_y, data.normalize, cfg.eval_batch_size, cfg.dtype, channels_last)
        val_s = min(val_s, (time.process_time() - c0) / (data.val_x.shape[0] / 1000))
        loss = out.train_loss if out.train_loss is not None else math.nan
    return train_s, val_s, loss, acc


def table(layouts: list[str], rows: Iterator[tuple[str, list[tuple[float, float, float, float]]]],
          emit: Callable[[str], None]) -> None:
    """Markdown rows: per model and layout, the figures and the ratios against the first layout."""
    emit("| model | layout | train CPU s / 1k img | ratio | val CPU s / 1k img | ratio | d train_loss | d val_acc |")
    emit("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, results in rows:
        ref = results[0]
        for name, (tr, va, loss, acc) in zip(layouts, results):
            emit(f"| {label} | {name} | {tr:.2f} | {ref[0] / tr:.2f}x | {va:.2f} | {ref[1] / va:.2f}x "
                 f"| {abs(loss - ref[2]):.1e} | {abs(acc - ref[3]):.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=6, help="NAS-Bench-201 cells, a seeded sample")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--kernel", type=int, default=3, help="spatial kernel of the LC model")
    ap.add_argument("--fraction", type=float, default=0.25, help="learned fraction of the partial model")
    ap.add_argument("--train", type=int, default=512, help="training images")
    ap.add_argument("--val", type=int, default=500, help="validation images")
    ap.add_argument("--batch", type=int, default=0, help="training batch (0: each evaluator's default, 32)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layouts", default="contiguous,channels_last,channels_last bf16",
                    help=f"comma-separated, the first the reference (of: {', '.join(LAYOUTS)})")
    ap.add_argument("--only", default="", help="run only the models whose label contains this text")
    ap.add_argument("--data", type=Path, help="an image-folder tree instead of the CIFAR-10 zip")
    args = ap.parse_args()
    layouts = args.layouts.split(",")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or unzip_subset(Path(tmp) / "cifar", math.ceil(args.train / 10), math.ceil(args.val / 10))
        ds = ImageFolderProvider().load({"root": str(root)}, cache_dir())
    data = DeviceData.from_dataset(ds, torch.device("cpu"), args.train, args.val)
    print(f"# {platform.processor() or platform.machine()} (cpu), torch {torch.__version__}, {args.threads} "
          f"thread(s), {data.train_x.shape[0]} training images x 1 epoch, {data.val_x.shape[0]} validated, "
          f"min of {args.reps} runs", flush=True)

    def rows() -> Iterator[tuple[str, list[tuple[float, float, float, float]]]]:
        for label, model, cfg in models(args.cells, args.sample_seed, args.kernel, args.fraction, data.num_classes):
            if args.only and args.only not in label:
                continue
            cfg = replace(cfg, batch_size=args.batch or cfg.batch_size)
            yield label, [measure(model, data, cfg, *LAYOUTS[name], args.reps) for name in layouts]

    table(layouts, rows(), lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
