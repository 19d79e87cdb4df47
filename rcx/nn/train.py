"""The shared fast training loop of the training evaluators (``trained``, ``lc_frozen``,
``partial_filters``).

The whole dataset lives on the device as uint8. Each epoch draws (on the CPU, from a generator
seeded by the evaluation seed, so CPU and CUDA runs see the same order) a permutation, a crop
offset per image and a flip bit per image; batches are gathered, cropped, flipped and
normalised on the device in one indexing operation each. No DataLoader, no workers.

Optimiser: SGD with momentum (optionally Nesterov) and weight decay over the parameters that
require a gradient, and only those: frozen tensors are never seen by the optimiser, so neither
weight decay nor momentum can move them. The learning rate follows a per-step cosine from
``lr`` to ``min_lr``. Loss: cross-entropy with label smoothing. ``TrainConfig.dtype`` sets the
autocast dtype and ``TrainConfig.channels_last`` the memory layout of the batches (the caller
converts the model); the evaluators' defaults (``dtype = "auto"``, ``layout = "auto"``) give bf16
autocast with channels-last tensors on CUDA and float32 contiguous (NCHW) tensors elsewhere.

A non-finite training loss ends the run with status ``diverged`` and the (1-based) step at which
it first happened; the check reads a device flag every :data:`CHECK_EVERY` steps and at each
epoch end, so there is no per-step host synchronisation on CUDA.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from rcx.api.dataset import ImageDataset
from rcx.api.device import Normalizer, synchronize
from rcx.api.seeding import generator
from rcx.nn.features import autocast, batched_features

CHECK_EVERY = 25
"""Steps between host reads of the divergence flag (and at every epoch end)."""

PAD = 4
"""Zero padding (black pixels, as torchvision's ``RandomCrop(32, padding=4)``) before the random crop."""


@dataclass
class DeviceData:
    """A dataset on the training device.

    ``train_x``/``val_x``: (N, C, H, W) uint8; ``train_y``/``val_y``: (N,) int64; ``normalize``
    maps a uint8 batch to float32 ``(x / 255 - mean) / std``.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    normalize: Normalizer
    num_classes: int

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    @classmethod
    def from_dataset(cls, data: ImageDataset, device: torch.device, train_size: int = 0, val_size: int = 0,
                     normalize: bool = True) -> DeviceData:
        """The first ``train_size`` training and ``val_size`` test images (0: all), moved once."""
        ntr = train_size or data.train_x.shape[0]
        nva = val_size or data.test_x.shape[0]
        c = data.shape[0]
        mean, std = (data.mean, data.std) if normalize else ((0.0,) * c, (1.0,) * c)
        return cls(
            data.train_x[:ntr].to(device), data.train_y[:ntr].to(device),
            data.test_x[:nva].to(device), data.test_y[:nva].to(device),
            Normalizer.create(tuple(mean), tuple(std), device), data.num_classes,
        )


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (see the evaluators' options for the defaults)."""

    epochs: int = 10
    steps: int = 0  # > 0: an optimiser-step budget instead of ``epochs``
    batch_size: int = 32
    lr: float = 0.02
    min_lr: float = 0.0002
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 4e-5
    label_smoothing: float = 0.0
    augment: bool = True
    eval_every: int = 1  # epochs between validations; 0: only at the end
    eval_batch_size: int = 500
    dtype: torch.dtype = torch.float32  # autocast dtype; float32 = no autocast
    channels_last: bool = False


@dataclass
class TrainHooks:
    """Callbacks into the caller. ``check_cancel`` runs between steps and may raise;
    ``point(step, epoch, metrics)`` gets one learning-curve point per epoch; ``progress``
    takes (fraction in [0, 1], message)."""

    check_cancel: Callable[[], None] = lambda: None
    point: Callable[[int, float, dict[str, float]], None] = lambda step, epoch, metrics: None
    progress: Callable[[float, str], None] = lambda fraction, message: None


@dataclass
class TrainOutcome:
    """What a run produced. ``status``: ``done`` or ``diverged`` (then ``diverged_step`` is the
    1-based step of the first non-finite loss and ``val_acc``/``train_loss`` are None).
    ``train_loss``: mean training loss (augmented, label-smoothed) over the last epoch.
    ``tse``: the sum of the training losses of every step divided by the steps per epoch, i.e.
    the sum over epochs of each epoch's mean loss (a partial last epoch by its fraction): Ru et
    al.'s training speed estimate (TSE, NeurIPS 2021), lower is better; None when diverged.
    ``epochs``: epochs completed (fractional under a step budget). ``train_seconds``: time in
    optimiser steps, synchronised, validation excluded; ``train_cpu_seconds``: this process's
    CPU time over the same spans (all threads: core-seconds, unaffected by other processes
    sharing the cores)."""

    status: str
    val_acc: float | None
    train_loss: float | None
    epochs: float
    steps: int
    train_seconds: float
    diverged_step: int | None = None
    curve: list[dict[str, float]] = field(default_factory=list)
    train_cpu_seconds: float = 0.0
    tse: float | None = None


def cosine_lr(step: int, total: int, lr: float, min_lr: float) -> float:
    """Learning rate at 0-based ``step`` of ``total``: cosine from ``lr`` (step 0) towards ``min_lr``."""
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * step / max(1, total)))


def crop_flip(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """Pad-``pad`` random crop and horizontal flip of a batch, on its device, in one gather.

    ``x``: (B, C, H, W) any dtype; ``dy``/``dx``: (B,) int64 offsets in [0, 2 * pad];
    ``flip``: (B,) bool. Returns (B, C, H, W) of ``x``'s dtype.
    """
    b, c, h, w = x.shape
    wp = w + 2 * pad
    xp = F.pad(x, (pad, pad, pad, pad)).reshape(b, c, -1)  # (B, C, (H + 2p) * (W + 2p))
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    flat = (rows[:, :, None] * wp + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return xp.gather(2, flat).view(b, c, h, w)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, normalize: Normalizer, batch_size: int,
             dtype: torch.dtype, channels_last: bool = False) -> float:
    """Top-1 accuracy of ``model`` (eval mode: BatchNorm uses running statistics) on uint8 ``x``."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for rows, logits in batched_features(model, x, normalize, batch_size, dtype, channels_last=channels_last):
        correct += (logits.argmax(1) == y[rows]).sum()
    model.train(was_training)
    return correct.item() / max(1, x.shape[0])


class EpochDraws:
    """One epoch's random draws (order, crop offsets, flips), made on the CPU from ``g`` and
    moved to the device once: (N,) int64 ``order``, ``dy``, ``dx`` and bool ``flip``."""

    def __init__(self, n: int, g: torch.Generator, device: torch.device) -> None:
        self.order = torch.randperm(n, generator=g).to(device)
        shifts = torch.randint(0, 2 * PAD + 1, (n, 2), generator=g).to(device)
        self.dy, self.dx = shifts[:, 0], shifts[:, 1]
        self.flip = (torch.rand(n, generator=g) < 0.5).to(device)

    def batch(self, data: DeviceData, rows: slice, augment: bool = True,
              channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions ``rows`` of this epoch's order: (B, C, H, W) float32 images, augmented and
        normalised on the device, and their (B,) labels."""
        idx = self.order[rows]
        x = data.train_x[idx]
        if augment:
            x = crop_flip(x, self.dy[rows], self.dx[rows], self.flip[rows])
        x = data.normalize(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, data.train_y[idx]


def train(model: nn.Module, data: DeviceData, cfg: TrainConfig, seed: int,
          hooks: TrainHooks | None = None) -> TrainOutcome:
    """Train ``model`` (already on ``data.device``, weights initialised) in place.

    Each epoch has ``N // batch_size`` full batches (the remainder of the permutation is
    dropped; at least one batch of ``min(batch_size, N)``). ``cfg.steps > 0`` replaces
    ``cfg.epochs`` by a step budget that may end mid-epoch. Validation runs every
    ``cfg.eval_every`` epochs and after the last step.
    """
    hooks = hooks or TrainHooks()
    device = data.device
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: every parameter of the model is frozen")
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                          weight_decay=cfg.weight_decay)
    n = data.train_x.shape[0]
    bs = min(cfg.batch_size, n)
    per_epoch = n // bs
    total = cfg.steps or cfg.epochs * per_epoch
    g = generator(seed, "data order")
    model.train()

    bad = torch.full((), -1, dtype=torch.int64, device=device)  # first non-finite step, -1 if none
    step, epoch_idx = 0, 0
    curve: list[dict[str, float]] = []
    train_seconds = train_cpu = 0.0
    last_loss: float | None = None
    val_acc: float | None = None
    loss_total = 0.0  # every step's loss: the TSE numerator
    while step < total:
        draws = EpochDraws(n, g, device)
        loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        taken = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for b in range(per_epoch):
            if step >= total:
                break
            hooks.check_cancel()
            lr = cosine_lr(step, total, cfg.lr, cfg.min_lr)
            for group in opt.param_groups:
                group["lr"] = lr
            xb, yb = draws.batch(data, slice(b * bs, (b + 1) * bs), cfg.augment, cfg.channels_last)
            with autocast(device, cfg.dtype):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            detached = loss.detach()
            bad = torch.where((bad < 0) & ~torch.isfinite(detached), torch.full_like(bad, step), bad)
            loss_sum += detached
            taken += 1
            step += 1
            if step % CHECK_EVERY == 0 and bad.item() >= 0:
                break
        synchronize(device)
        train_seconds += time.perf_counter() - t0
        train_cpu += time.process_time() - c0
        epoch_idx += 1
        epoch = step / per_epoch
        if bad.item() >= 0:
            return TrainOutcome("diverged", None, None, epoch, step, train_seconds, int(bad.item()) + 1, curve,
                                train_cpu)
        epoch_sum = loss_sum.item()
        loss_total += epoch_sum
        last_loss = epoch_sum / max(1, taken)
        point = {"train_loss": last_loss, "lr": lr}
        if step >= total or (cfg.eval_every and epoch_idx % cfg.eval_every == 0):
            val_acc = accuracy(model, data.val_x, data.val_y, data.normalize, cfg.eval_batch_size, cfg.dtype,
                               cfg.channels_last)
            point["val_acc"] = val_acc
        curve.append({"step": step, "epoch": epoch, **point})
        hooks.point(step, epoch, point)
        msg = f"epoch {epoch:.3g}: train_loss {last_loss:.4f}"
        hooks.progress(step / total, msg + (f", val_acc {val_acc:.4f}" if "val_acc" in point else ""))
    return TrainOutcome("done", val_acc, last_loss, step / per_epoch, step, train_seconds, None, curve, train_cpu,
                        tse=loss_total / per_epoch)


class Classifier(nn.Module):
    """``features`` (B, C, H, W) -> (B, C', H', W'), flattened, then ``head``: logits (B, classes)."""

    def __init__(self, features: nn.Module, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.head = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))
