"""Epoch time of rcx's shared training loop against a plain PyTorch DataLoader loop, in one process.

Same model (same init), same images, same hyper-parameters (SGD momentum 0.9, cosine lr,
weight decay, batch size), same augmentation (pad-4 random crop + horizontal flip) and
normalisation. Only the input pipeline and loop differ:

- **reference**: the usual CIFAR recipe: a ``Dataset`` of HWC uint8 images, per image
  ``PIL.Image.fromarray`` -> ``RandomCrop(32, padding=4)`` -> ``RandomHorizontalFlip()`` ->
  ``ToTensor()`` -> ``Normalize``, a shuffling ``DataLoader`` (``--workers``, 0 by default: the
  2-core machines here have no spare core), ``.to(device)`` per batch.
- **rcx**: ``rcx.nn.train.train``: the images on the device as uint8, one gather per batch
  for crop + flip, normalisation on the device (bf16 autocast + channels_last on CUDA).

Both loops run ``--epochs`` epochs after one untimed warm-up step, alternating for
``--rounds`` rounds (the best round counts: the machines here are shared); the figure is
training time per epoch (steps only, synchronised; validation excluded), and the validation
accuracy after training shows both loops learn alike. The input pipelines are also timed
alone (one epoch of batches, no model), which isolates what the loops do differently.

    python benchmarks/train.py [--model resnet_lc-20-16-k3] [--train 2000] [--epochs 2] [--batch 128] [--threads 1]

``--model`` is an id of ``resnet_lc`` (e.g. ``resnet_lc-20-16-k3``) or ``depthmult`` (e.g.
``k3-5-3_m1.25-1.5-1``). The images are the first ``--train`` training and 1,000 test JPEGs of
``../shared/data/cifar10-jpeg.zip`` (class-balanced), or ``--data DIR`` (an image-folder tree).
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from rcx.api import cache_dir
from rcx.api.device import synchronize
from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.core.device import resolve_device
from rcx.data.imagefolder import ImageFolderProvider
from rcx.nn.resnet_lc import cifar_resnet
from rcx.nn.train import Classifier, DeviceData, EpochDraws, TrainConfig, accuracy, cosine_lr, train
from rcx.spaces.depthmult import DepthMultSpace
from rcx.spaces.resnet_lc import parse_id

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder


class PILCifar(Dataset):
    """The reference pipeline: HWC uint8 array -> PIL -> torchvision transforms, per image."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.x = x.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C) uint8
        self.y = y
        self.t = transforms.Compose([transforms.RandomCrop(x.shape[-1], padding=4), transforms.RandomHorizontalFlip(),
                                     transforms.ToTensor(), transforms.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.t(Image.fromarray(self.x[i])), self.y[i]


def reference_loop(model, ds: PILCifar, cfg: TrainConfig, device: torch.device, workers: int) -> float:
    """Seconds per epoch of the plain loop (same optimiser, schedule and loss as rcx's)."""
    torch.manual_seed(0)
    loader = DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=workers)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    total = cfg.epochs * len(loader)
    step, seconds = 0, 0.0
    model.train()
    for _ in range(cfg.epochs):
        t0 = time.perf_counter()
        for xb, yb in loader:
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, cfg.lr, cfg.min_lr)
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        synchronize(device)
        seconds += time.perf_counter() - t0
    return seconds / cfg.epochs


def build(model_id: str, shape: tuple[int, int, int], classes: int) -> torch.nn.Module:
    """A ``resnet_lc`` or ``depthmult`` architecture with the training evaluators' head, seeded init."""
    if model_id.startswith("resnet_lc-"):
        d, w, e, k = parse_id(model_id)
        features, dim = cifar_resnet(d, w, e, k, shape[0]), 4 * w
    else:
        space = DepthMultSpace(depth=[len(model_id.split("_")[0].split("-"))])
        arch = space.from_id(model_id)
        features, dim = space.build(arch, shape), space.describe(arch, shape).features
    return init_weights(Classifier(features, dim, classes), "default", generator(0, "bench", model_id))


def pipeline_reference(ds: PILCifar, batch: int, device: torch.device, workers: int) -> float:
    """Seconds for one epoch of the reference input pipeline alone (batches moved to the device)."""
    t0 = time.perf_counter()
    for xb, yb in DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers):
        xb.to(device), yb.to(device)
    synchronize(device)
    return time.perf_counter() - t0


def pipeline_rcx(dd: DeviceData, batch: int, device: torch.device) -> float:
    """Seconds for one epoch of rcx's input pipeline alone (the code path of ``train``)."""
    n = dd.train_x.shape[0]
    t0 = time.perf_counter()
    draws = EpochDraws(n, generator(0, "bench"), device)
    for b in range(n // batch):
        draws.batch(dd, slice(b * batch, (b + 1) * batch), True, device.type == "cuda")
    synchronize(device)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet_lc-20-16-k3")
    ap.add_argument("--train", type=int, default=2000, help="training images (class-balanced)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2, help="alternating reference/rcx rounds; the best round counts")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default); 1 avoids "
                    "OpenMP stalls on a shared, busy CPU")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or unzip_subset(Path(tmp) / "cifar", math.ceil(args.train / 10), 100)
        data = ImageFolderProvider().load({"root": str(root)}, cache_dir())
    data.train_x, data.train_y = data.train_x[: args.train], data.train_y[: args.train]
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=0.05, min_lr=0.0005, weight_decay=5e-4,
                      eval_every=0, channels_last=device.type == "cuda",
                      dtype=torch.bfloat16 if device.type == "cuda" else torch.float32)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {device}; model {args.model}; {args.train} train / {data.test_x.shape[0]} val images; "
          f"{args.epochs} epochs of batch {args.batch}, best of {args.rounds} rounds")
    base = build(args.model, data.shape, data.num_classes).to(device)
    dd = DeviceData.from_dataset(data, device)
    ds = PILCifar(data.train_x, data.train_y, data.mean, data.std)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    train(copy.deepcopy(base).to(memory_format=layout), dd, TrainConfig(  # warm-up: the timed kernels
        steps=1, batch_size=args.batch, eval_every=0, dtype=cfg.dtype, channels_last=cfg.channels_last), seed=0)

    t_ref, t_rcx, p_ref, p_rcx = [], [], [], []
    for _ in range(args.rounds):
        ref_model = copy.deepcopy(base)
        t_ref.append(reference_loop(ref_model, ds, cfg, device, args.workers))
        rcx_model = copy.deepcopy(base).to(memory_format=layout)  # as the training evaluators do
        out = train(rcx_model, dd, cfg, seed=0)
        t_rcx.append(out.train_seconds / out.epochs)
        p_ref.append(pipeline_reference(ds, args.batch, device, args.workers))
        p_rcx.append(pipeline_rcx(dd, args.batch, device))
    acc_ref = accuracy(ref_model, dd.val_x, dd.val_y, dd.normalize, 500, cfg.dtype, cfg.channels_last)
    print(f"reference DataLoader loop: {min(t_ref):.2f} s/epoch ({args.train / min(t_ref):.0f} img/s), "
          f"val_acc {acc_ref:.4f}; input pipeline alone {1000 * min(p_ref):.0f} ms/epoch")
    print(f"rcx shared loop:           {min(t_rcx):.2f} s/epoch ({args.train / min(t_rcx):.0f} img/s), "
          f"val_acc {out.val_acc:.4f}; input pipeline alone {1000 * min(p_rcx):.0f} ms/epoch")
    print(f"ratio (reference / rcx):   epoch {min(t_ref) / min(t_rcx):.2f}x, input pipeline "
          f"{min(p_ref) / min(p_rcx):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
