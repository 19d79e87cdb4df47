"""Training cost of two ways to compute the same network: LC-Blocks folded vs as two
convolutions (``lc_frozen``), partial-filter convs as one convolution vs split in two
(``partial_filters``).

An LC-Block with no intermediate op is one spatial convolution with combined filters
(seed 003's Lemma 3.1). ``lc_frozen`` computes it that way by default (``fold = true``): the
combined filters are formed from the current weights at every step, differentiably, so the
gradients are the two-conv block's up to float rounding. This script trains the same model
(same init, same images, same draws) both ways and reports, per expansion E and mode
(frozen / learnable):

- CPU seconds of the optimiser steps per epoch per 1,000 images (``time.process_time``: the
  process's CPU time, so other processes sharing the cores do not inflate it; one thread);
- the ratio two-conv / folded;
Partial filters (``--fractions``): ResNet-20-16 with the first fraction of every conv's output
filters learned, the rest frozen at random (``rcx.nn.partial``); the default computes one
convolution over the concatenated weight, ``split`` two convolutions (learned slice, frozen
rest) concatenated. Same figures, "split" in place of "two convs".

- the largest difference of the final training loss and of the validation accuracy between
  the two (rounding only: the runs start from the same weights and draw the same batches).

    python benchmarks/train_compute.py [--expansions 1,8,32] [--fractions 0.125,0.5] [--train 512] \\
        [--threads 1] [--device cuda]

Images: the first ``--train`` training and 500 test JPEGs of ``../shared/data/cifar10-jpeg.zip``
(class-balanced; ``$RCX_CIFAR_ZIP`` names another copy), or ``--data DIR`` (an image-folder tree).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
from pathlib import Path

import torch

from rcx.api import cache_dir
from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.data.imagefolder import ImageFolderProvider
from rcx.nn.lc import freeze_spatial, set_folded
from rcx.nn.partial import PartialConv2d, partialize
from rcx.nn.resnet_lc import cifar_resnet
from rcx.nn.train import Classifier, DeviceData, TrainConfig, train

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder


def run_once(data: DeviceData, expansion: int, kernel: int, mode: str, folded: bool, epochs: int, batch: int):
    """One training of ResNet-LC-20-16xE (lc_frozen's Appendix-A settings); returns the outcome."""
    model = Classifier(cifar_resnet(20, 16, expansion, kernel), 64, data.num_classes)
    set_folded(model, folded)
    init_weights(model, "default", generator(0, "init"))
    if mode == "frozen":
        freeze_spatial(model)
    cfg = TrainConfig(epochs=epochs, batch_size=batch, lr=0.01, min_lr=0.0, momentum=0.9, nesterov=True,
                      weight_decay=0.01, label_smoothing=0.1)
    return train(model.to(data.device), data, cfg, seed=1)


def run_partial(data: DeviceData, fraction: float, split: bool, epochs: int, batch: int):
    """One training of ResNet-20-16 with partial filters (partial_filters' defaults); the outcome."""
    model = Classifier(cifar_resnet(20, 16, 0, 3), 64, data.num_classes)
    init_weights(model, "default", generator(0, "init"))
    partialize(model.features, fraction=fraction)
    for m in model.modules():
        if isinstance(m, PartialConv2d):
            m.split = split
    return train(model.to(data.device), data, TrainConfig(epochs=epochs, batch_size=batch), seed=1)


def row(label: str, mode: str, slow, fast, images: int, wall: bool = False) -> str:
    """One table row; ``wall``: synchronised wall seconds (a GPU), else process CPU seconds."""
    per = lambda o: (o.train_seconds if wall else o.train_cpu_seconds) / o.epochs / (images / 1000)  # noqa: E731
    return (f"| {label} | {mode} | {per(slow):.2f} | {per(fast):.2f} | {per(slow) / per(fast):.2f}x "
            f"| {abs(slow.train_loss - fast.train_loss):.1e} | {abs(slow.val_acc - fast.val_acc):.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--expansions", default="1,8,32", help="comma-separated E ('' for none)")
    ap.add_argument("--fractions", default="0.125,0.5", help="comma-separated partial fractions ('' for none)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--modes", default="frozen,learnable")
    ap.add_argument("--train", type=int, default=512, help="training images")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda: figures are then synchronised wall seconds "
                    "(float32, as the rewrites are compared; rcx's own runs use bf16 autocast there)")
    ap.add_argument("--data", type=Path, help="an image-folder tree instead of the shared zip")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or unzip_subset(Path(tmp) / "cifar", math.ceil(args.train / 10), 50)
        ds = ImageFolderProvider().load({"root": str(root)}, cache_dir())
    device = torch.device(args.device)
    data = DeviceData.from_dataset(ds, device, args.train, 500)
    wall = device.type != "cpu"
    print(f"# {platform.processor() or platform.machine()} ({device}), torch {torch.__version__}, "
          f"{args.threads} thread(s), {args.train} images x {args.epochs} epoch(s), batch {args.batch}, "
          f"k = {args.kernel}")
    unit = "wall s" if wall else "CPU s"
    print(f"| model | mode | as written ({unit} / epoch / 1k img) | rcx's default | ratio | d train_loss | d val_acc |")
    print("|---|---|---:|---:|---:|---:|---:|")
    n = data.train_x.shape[0]
    for e in (int(v) for v in args.expansions.split(",") if v):
        for mode in args.modes.split(","):
            two = run_once(data, e, args.kernel, mode, False, args.epochs, args.batch)
            one = run_once(data, e, args.kernel, mode, True, args.epochs, args.batch)
            print(row(f"ResNet-LC-20-16x{e}, two convs vs folded", mode, two, one, n, wall), flush=True)
    for f in (float(v) for v in args.fractions.split(",") if v):
        split = run_partial(data, f, True, args.epochs, args.batch)
        one = run_partial(data, f, False, args.epochs, args.batch)
        print(row(f"ResNet-20-16 partial {f:g}, split vs one conv", "partial", split, one, n, wall), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
