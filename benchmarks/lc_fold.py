"""Training cost of ResNet-LC-20-16xE with LC-Blocks computed folded vs as two convolutions.

An LC-Block with no intermediate op is one spatial convolution with combined filters
(seed 003's Lemma 3.1). ``lc_frozen`` computes it that way by default (``fold = true``): the
combined filters are formed from the current weights at every step, differentiably, so the
gradients are the two-conv block's up to float rounding. This script trains the same model
(same init, same images, same draws) both ways and reports, per expansion E and mode
(frozen / learnable):

- CPU seconds of the optimiser steps per epoch per 1,000 images (``time.process_time``: the
  process's CPU time, so other processes sharing the cores do not inflate it; one thread);
- the ratio two-conv / folded;
- the largest difference of the final training loss and of the validation accuracy between
  the two (rounding only: the runs start from the same weights and draw the same batches).

    python benchmarks/lc_fold.py [--expansions 1,8,32] [--train 512] [--epochs 1] [--threads 1]

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

from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.data.cache import cache_dir
from rcx.data.imagefolder import ImageFolderProvider
from rcx.nn.lc import freeze_spatial, set_folded
from rcx.nn.resnet_lc import cifar_resnet
from rcx.nn.train import Classifier, DeviceData, TrainConfig, train

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder


def run_once(data: DeviceData, expansion: int, kernel: int, mode: str, folded: bool, epochs: int):
    """One training of ResNet-LC-20-16xE (lc_frozen's Appendix-A settings); returns the outcome."""
    model = Classifier(cifar_resnet(20, 16, expansion, kernel), 64, data.num_classes)
    set_folded(model, folded)
    init_weights(model, "default", generator(0, "init"))
    if mode == "frozen":
        freeze_spatial(model)
    cfg = TrainConfig(epochs=epochs, batch_size=128, lr=0.01, min_lr=0.0, momentum=0.9, nesterov=True,
                      weight_decay=0.01, label_smoothing=0.1)
    return train(model, data, cfg, seed=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--expansions", default="1,8,32", help="comma-separated E")
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--modes", default="frozen,learnable")
    ap.add_argument("--train", type=int, default=512, help="training images")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", type=Path, help="an image-folder tree instead of the shared zip")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or unzip_subset(Path(tmp) / "cifar", math.ceil(args.train / 10), 50)
        ds = ImageFolderProvider().load({"root": str(root)}, cache_dir())
    data = DeviceData.from_dataset(ds, torch.device("cpu"), args.train, 500)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"{args.train} images x {args.epochs} epoch(s), batch 128, k = {args.kernel}")
    print("| E | mode | two convs (CPU s / epoch / 1k img) | folded | ratio | d train_loss | d val_acc |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for e in (int(v) for v in args.expansions.split(",")):
        for mode in args.modes.split(","):
            two = run_once(data, e, args.kernel, mode, False, args.epochs)
            one = run_once(data, e, args.kernel, mode, True, args.epochs)
            per = lambda o: o.train_cpu_seconds / o.epochs / (data.train_x.shape[0] / 1000)  # noqa: E731
            print(f"| {e} | {mode} | {per(two):.2f} | {per(one):.2f} | {per(two) / per(one):.1f}x "
                  f"| {abs(two.train_loss - one.train_loss):.1e} | {abs(two.val_acc - one.val_acc):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
