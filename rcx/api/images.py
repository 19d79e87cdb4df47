"""Image helpers for dataset providers: per-channel statistics and resizing of uint8 images,
and the largest image side rcx accepts.

A provider's :class:`~rcx.api.ImageDataset` carries its images as uint8 (N, C, H, W) and their
``mean``/``std``; :func:`channel_stats` computes those, :func:`resize_uint8` brings images to
one size (rcx's ``[dataset] resize`` uses it too). Both work in bounded float32 chunks, so a
large split never needs a float copy of itself. torch is imported inside the functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MAX_IMAGE_SIDE = 1024
"""Largest image side of ``resize`` and of ``imagefolder``'s ``image_size``: 1024 x 1024 RGB is
3 MB per image. (The ``synthetic`` dataset's ``image_size`` stops at 256: generating is slow
beyond it; ``resize`` takes its images on.)"""

_CHUNK_ELEMENTS = 1 << 24  # float32 values per chunk in float passes (64 MB): bounds temporary memory


def _chunk(*shape: int) -> int:
    """Images per chunk for images of ``shape`` (C, H, W)."""
    return max(1, _CHUNK_ELEMENTS // math.prod(shape))


def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 images (N, C, H, W) to (N, C, size, size), bilinear with antialiasing.

    Works in float32 chunks of at most ~16M values; returns ``x`` itself if already that size.
    """
    import torch
    import torch.nn.functional as F

    if x.shape[-2:] == (size, size):
        return x
    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.uint8)
    step = _chunk(x.shape[1], max(x.shape[2], size), max(x.shape[3], size))
    for i in range(0, x.shape[0], step):
        r = F.interpolate(x[i:i + step].float(), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
        out[i:i + step] = r.round_().clamp_(0, 255).to(torch.uint8)
    return out


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), in [0, 1] pixel units.

    Float32 sums per chunk (so memory stays bounded), accumulated in float64.
    """
    import torch

    c = x.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    step = _chunk(*x.shape[1:])
    for i in range(0, x.shape[0], step):
        chunk = x[i:i + step].flatten(2).float()  # (n, C, H*W): reducing the last dim first is fastest
        s += chunk.sum(2).sum(0).double()
        s2 += chunk.square_().sum(2).sum(0).double()
    n = max(x.shape[0] * x.shape[2] * x.shape[3], 1)
    mean = s / n
    std = (s2 / n - mean.square()).clamp_min(0).sqrt().div(255).clamp_min(1e-6)
    mean = mean / 255
    return tuple(mean.tolist()), tuple(std.tolist())
