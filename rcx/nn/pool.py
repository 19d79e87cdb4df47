"""NAS-Bench-201's 3x3 average pooling, bit-identical to PyTorch's CPU kernel and faster.

``nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)`` on a contiguous (NCHW) CPU
tensor loops over every output and its window; here the window is nine shifted slices of the
zero-padded map added in the kernel's order (row by row, left to right, from +0) and divided by
the number of in-image taps, which is the same float arithmetic done by whole-tensor ops (2-4x
faster per call on this project's CPU, BENCHMARKS.md "All training-free scores"). The backward
pass repeats PyTorch's ``avg_pool2d_backward`` the same way (each input adds ``grad / count`` of
the outputs whose window holds it, in the order the kernel visits those outputs), and its
derivative is the forward again, as PyTorch's, so first and second derivatives (GraSP's
Hessian-vector product) are bit-identical as well (tests/test_nb201_pool.py).

Inputs that are not float32/float64 NCHW-contiguous (bfloat16 under autocast, channels-last)
go to PyTorch's own kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_COUNTS: dict[tuple[int, int, torch.dtype, torch.device], torch.Tensor] = {}


def _counts(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(h, w) in-image taps of each 3x3 window (4 in the corners, 6 on the edges, 9 inside)."""
    key = (h, w, dtype, device)
    if key not in _COUNTS:
        rows = torch.full((h,), 3.0, dtype=dtype, device=device)
        cols = torch.full((w,), 3.0, dtype=dtype, device=device)
        rows[0] -= 1
        rows[-1] -= 1
        cols[0] -= 1
        cols[-1] -= 1
        if h == 1:
            rows[0] = 1.0
        if w == 1:
            cols[0] = 1.0
        _COUNTS[key] = torch.outer(rows, cols)
    return _COUNTS[key]


def _window_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of the 3x3 window (zero padding) at every position of x (N, C, H, W), the nine taps
    added in row-major order starting from +0."""
    h, w = x.shape[-2:]
    p = F.pad(x, (1, 1, 1, 1))
    s = p[..., 0:h, 0:w] + 0.0  # +0 + first tap, as the kernel's accumulator (a -0 tap gives +0)
    for i in range(3):
        for j in range(3):
            if i or j:
                s += p[..., i:i + h, j:j + w]
    return s


def _exact(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.dtype in (torch.float32, torch.float64) and x.is_contiguous() and x.device.type == "cpu"


def _pool(x: torch.Tensor) -> torch.Tensor:
    """Forward of the pooling: window sum / taps (PyTorch's kernel divides the float sum)."""
    return _window_sum(x) / _counts(x.shape[-2], x.shape[-1], x.dtype, x.device)


def _pool_backward(g: torch.Tensor) -> torch.Tensor:
    """PyTorch's ``avg_pool2d_backward`` for this pooling: every input adds ``g / taps`` of the
    outputs whose window holds it, in the kernel's order of outputs (row-major)."""
    return _window_sum(g / _counts(g.shape[-2], g.shape[-1], g.dtype, g.device))


class _AvgPool3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return _pool(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        return _AvgPool3x3Backward.apply(g.contiguous())


class _AvgPool3x3Backward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g: torch.Tensor) -> torch.Tensor:
        return _pool_backward(g)

    @staticmethod
    def backward(ctx, gg: torch.Tensor) -> torch.Tensor:
        return _AvgPool3x3.apply(gg.contiguous())  # PyTorch: d(avg_pool2d_backward)/d grad = avg_pool2d


class AvgPool3x3(nn.AvgPool2d):
    """``nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)`` with the same results to
    the bit (forward, backward and double backward) and a faster CPU path: (N, C, H, W) ->
    (N, C, H, W)."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _exact(x):
            return super().forward(x)
        if torch.is_grad_enabled() and x.requires_grad:
            return _AvgPool3x3.apply(x)
        return _pool(x)
