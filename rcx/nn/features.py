"""Feature extraction: uint8 images on the device -> flattened features, in batches.

The images stay on the device as uint8; each batch is normalised there. Forward time is
measured per batch with device synchronisation, so ``seconds`` is the feature extractor's own
time (no solver, no Python bookkeeping) and ``images / seconds`` its throughput.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from rcx.api.device import cpu_has_fast_bf16, synchronize


def cuda_has_bf16(device: torch.device) -> bool:
    """True for a CUDA device that computes bf16 natively (compute capability 8.0 and later:
    Ampere, Hopper...). On older GPUs ``torch.autocast`` refuses bf16 (it warns and runs
    float32), so ``auto`` must not pick it there."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def choose_dtype(option: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 where the device computes it natively (CUDA GPUs of compute capability
    8.0 and later, CPUs with AVX512-BF16 or AMX, measured 2.2-2.5x faster than float32 on this
    project's 2-core CPU), else float32."""
    if option == "float32":
        return torch.float32
    if option == "bfloat16":
        return torch.bfloat16
    if cuda_has_bf16(device) or (device.type == "cpu" and cpu_has_fast_bf16()):
        return torch.bfloat16
    return torch.float32


def default_batch_size(device: torch.device) -> int:
    """Measured sweet spots: 32 images per batch on a 2-core CPU at 96x96, 256 on a GPU."""
    return 256 if device.type == "cuda" else 32


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class ForwardTimer:
    """Accumulates forward time (s) and image count of a feature extractor; the first ``skip``
    batches it sees are not counted (first calls for new shapes: allocations, kernel selection)."""

    seconds: float = 0.0
    images: int = 0
    skip: int = 0

    @property
    def throughput(self) -> float:
        """Images per second (0 when nothing was timed)."""
        return self.images / self.seconds if self.seconds > 0 else 0.0


def batched_features(
    model: nn.Module,
    images: torch.Tensor,
    normalize: Callable[[torch.Tensor], torch.Tensor] | None,
    batch_size: int,
    dtype: torch.dtype,
    timer: ForwardTimer | None = None,
    channels_last: bool = False,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield ``(rows, features)`` per batch: features (B, D) float32 on the images' device.

    ``images``: (N, C, H, W) uint8 on the device, normalised per batch by ``normalize``; or, with
    ``normalize=None``, the network's float input already (normalised once for every candidate,
    see :func:`stage_inputs`). Runs under ``inference_mode``; time spent in the forward pass
    (normalisation included, consumer excluded) goes to ``timer`` (except the batches its
    ``skip`` leaves out).
    """
    device = images.device
    for start in range(0, images.shape[0], batch_size):
        rows = slice(start, min(start + batch_size, images.shape[0]))
        if timer is not None:
            synchronize(device)  # the consumer's queued work on the previous batch is not this batch's time
        t0 = time.perf_counter()
        with torch.inference_mode(), autocast(device, dtype):
            x = images[rows] if normalize is None else normalize(images[rows])
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)  # no copy when staged channels-last
            out = model(x).flatten(1).float()
        if timer is not None:
            synchronize(device)
            if timer.skip > 0:
                timer.skip -= 1
            else:
                timer.seconds += time.perf_counter() - t0
                timer.images += rows.stop - rows.start
        yield rows, out


def stage_inputs(images: list[torch.Tensor], normalize: Callable[[torch.Tensor], torch.Tensor], channels_last: bool,
                 limit_bytes: int) -> list[torch.Tensor] | None:
    """The network's input for every image of ``images`` (each (N, C, H, W) uint8): normalised
    float32 in the extractor's layout, computed once, so that candidates skip the per-batch
    normalisation and layout copy; None when the float32 copies together exceed ``limit_bytes``.

    Elementwise work only: any batch of the result is bit-identical to ``normalize`` (and the
    channels-last copy) of the same rows, which :func:`batched_features` computes otherwise."""
    if 4 * sum(x.numel() for x in images) > limit_bytes:
        return None
    staged = []
    for x in images:
        x = normalize(x)
        staged.append(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
    return staged
