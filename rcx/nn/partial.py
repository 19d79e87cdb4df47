"""Partial-filter training (seed 004, Rosenfeld & Tsotsos): learn only a slice of each conv.

:class:`PartialConv2d` splits a convolution's weight along the output-filter dimension
(``dim = "out"``, the paper's choice) or the input-channel dimension (``dim = "in"``) into a
learned slice (the first ``n``, an ``nn.Parameter``) and a frozen rest (a buffer, never a
parameter). The forward pass is two convolutions, concatenated (``out``) or summed (``in``),
so the frozen rest costs no weight gradient and no optimiser, weight decay or momentum ever
sees it. With ``rest = "zero"`` the rest is zeroed and its convolution skipped.

Biases belong to output filters: with ``dim = "out"`` the learned filters' biases learn and
the others stay; with ``dim = "in"`` every bias stays at its init (a filter is only partly
learned). ``rest = "zero"`` zeroes the biases that stay.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rcx.nn.choices import PARTIAL_DIMS, PARTIAL_RESTS
from rcx.nn.surgery import replace_module


def learned_count(size: int, fraction: float | None, count: int | None) -> int:
    """How many of ``size`` slices learn: ``count`` (capped at ``size``) if given, else
    ``fraction * size`` rounded half up, at least 1."""
    if count is not None:
        return max(1, min(count, size))
    assert fraction is not None and 0 < fraction <= 1
    return max(1, min(size, math.floor(fraction * size + 0.5)))


class PartialConv2d(nn.Module):
    """A conv whose first ``n`` output filters (or input channels) learn; (B, C_in, H, W) -> (B, C_out, H', W').

    ``weight`` (learned slice) and ``bias`` (learned biases, or None) are parameters;
    ``frozen_weight`` and ``frozen_bias`` are buffers. :meth:`full_weight` reassembles the conv.
    """

    frozen_weight: torch.Tensor  # buffers (register_buffer), declared for the type checker
    frozen_bias: torch.Tensor | None

    def __init__(self, conv: nn.Conv2d, n: int, dim: str = "out", rest: str = "random") -> None:
        super().__init__()
        if dim not in PARTIAL_DIMS or rest not in PARTIAL_RESTS:
            raise ValueError(f"dim must be one of {PARTIAL_DIMS} and rest one of {PARTIAL_RESTS}")
        if conv.padding_mode != "zeros":
            raise ValueError(f"partial filters support zero padding only, got {conv.padding_mode!r}")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.depthwise = conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels
        if conv.groups > 1 and not self.depthwise:
            raise ValueError(f"partial filters support plain and depthwise convs, not groups={conv.groups}")
        if self.depthwise and dim == "in":
            dim = "out"  # a depthwise filter has one input channel: its filters are its channels
        size = conv.out_channels if dim == "out" else conv.in_channels
        if not 1 <= n < size:
            raise ValueError(f"learned slice {n} must be in [1, {size}) (learn everything: keep the conv)")
        self.n, self.dim, self.rest = n, dim, rest
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        w = conv.weight.detach()
        b = conv.bias.detach() if conv.bias is not None else None
        if dim == "out":
            self.weight = nn.Parameter(w[:n].clone())
            self.bias = nn.Parameter(b[:n].clone()) if b is not None else None
            frozen_w, frozen_b = w[n:].clone(), (b[n:].clone() if b is not None else None)
        else:
            self.weight = nn.Parameter(w[:, :n].clone())
            self.bias = None
            frozen_w, frozen_b = w[:, n:].clone(), (b.clone() if b is not None else None)
        if rest == "zero":
            frozen_w.zero_()
            if frozen_b is not None:
                frozen_b.zero_()
        self.register_buffer("frozen_weight", frozen_w)
        self.register_buffer("frozen_bias", frozen_b)
        self.split = False  # True: two convolutions (learned slice, frozen rest) instead of one

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, groups: int) -> torch.Tensor:
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rest == "random" and not self.split:
            groups = self.out_channels if self.depthwise else 1
            if self.dim == "out":
                bias = (None if self.bias is None or self.frozen_bias is None
                        else torch.cat([self.bias, self.frozen_bias]))
                return self._conv(x, torch.cat([self.weight, self.frozen_weight], 0), bias, groups)
            return self._conv(x, torch.cat([self.weight, self.frozen_weight], 1), self.frozen_bias, groups)
        n = self.n
        if self.dim == "out":
            x_learn, x_rest = (x[:, :n], x[:, n:]) if self.depthwise else (x, x)
            g_learn, g_rest = (n, self.out_channels - n) if self.depthwise else (1, 1)
            learned = self._conv(x_learn, self.weight, self.bias, g_learn)
            if self.rest == "zero":
                rest = learned.new_zeros(learned.shape[0], self.out_channels - n, *learned.shape[2:])
            else:
                rest = self._conv(x_rest, self.frozen_weight, self.frozen_bias, g_rest)
            return torch.cat([learned, rest], 1)
        learned = self._conv(x[:, :n], self.weight, None, 1)
        if self.rest == "zero":
            return learned
        return learned + self._conv(x[:, n:], self.frozen_weight, self.frozen_bias, 1)

    def full_weight(self) -> torch.Tensor:
        """The whole (C_out, C_in / groups, kh, kw) weight, learned slice first."""
        return torch.cat([self.weight.detach(), self.frozen_weight], 0 if self.dim == "out" else 1)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, learned={self.n} ({self.dim}), rest={self.rest}, "
                f"depthwise={self.depthwise}")


def partialize(model: nn.Module, *, fraction: float | None = None, count: int | None = None, dim: str = "out",
               rest: str = "random") -> list[str]:
    """Replace every ``nn.Conv2d`` of ``model`` (already initialised) by a :class:`PartialConv2d`
    learning ``learned_count(size, fraction, count)`` slices, in place. A conv whose whole
    dimension would be learned stays as it is. Returns the names of the replaced convs."""
    replaced: list[str] = []
    for name, conv in [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]:
        depthwise = conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels
        size = conv.out_channels if dim == "out" or depthwise else conv.in_channels // conv.groups
        n = learned_count(size, fraction, count)
        if n >= size:
            continue
        replace_module(model, name, PartialConv2d(conv, n, dim, rest))
        replaced.append(name)
    return replaced
