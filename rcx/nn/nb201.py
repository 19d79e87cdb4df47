"""NAS-Bench-201's network pieces (Dong & Yang, ICLR 2020), as in its public ``TinyNetwork``.

The skeleton (``C`` = ``channels``, ``N`` = ``cells`` per stage)::

    stem: Conv3x3(C_in -> C, pad 1, no bias) -> BN(C)
    N cells at C    -> ResBlock(C -> 2C, stride 2) -> N cells at 2C -> ResBlock(2C -> 4C, stride 2)
    -> N cells at 4C -> BN(4C) -> ReLU                      (what ``build`` returns, "lastact")
    [classifier: global average pooling -> Linear(4C, classes), added by the space's head]

A cell is a 4-node DAG: node 0 is the cell input, node ``j`` the sum of ``op(node i)`` over its
edges ``i -> j`` (i < j); the cell outputs node 3. Edge operations: ``none`` (zero),
``skip_connect`` (identity), ``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU -> Conv(no bias, 'same')
-> BN), ``avg_pool_3x3`` (3x3, stride 1, pad 1, ``count_include_pad=False``). The residual
reduction block is ``ReLU-Conv3x3(stride 2)-BN -> ReLU-Conv3x3-BN`` plus a shortcut
``AvgPool2x2 -> Conv1x1(no bias)``. Every BN is affine.

By default rcx skips work that cannot reach the cell output (``none`` edges, and edges into
nodes whose every path to node 3 goes through ``none``); their modules still exist, so parameter
counts are the benchmark's, and the output is the same as computing every edge
(``prune_unreachable=False``, what the benchmark's code does). The output is all that most
evaluators see; one that hooks inner modules (NASWOT counts every ReLU) sees the skipped edges'
modules only when they run: ``prune_unreachable=False`` gives it the benchmark's computation.
``none`` edges are skipped either way: the benchmark's ``Zero`` (``x.mul(0)``) adds zeros and
holds no module that anything could observe.
"""

from __future__ import annotations

import torch
from torch import nn

from rcx.nn.nb201_topology import EDGES, OPS, live_edges
from rcx.nn.pool import AvgPool3x3


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d(no bias) -> BatchNorm2d (affine)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    """The ``none`` operation: a zero map of the input's shape (only built, never run by a cell)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int, c_in: int | None = None) -> nn.Module:
    """One edge operation at stride 1, from ``c_in`` (default ``channels``) to ``channels`` channels.

    A cell whose input width differs from its own (NATS-Bench's size space, :mod:`rcx.nn.nats_sss`)
    gets, on the edges leaving node 0, convolutions from ``c_in`` channels and, for
    ``skip_connect``, the benchmark's stride-1 ``FactorizedReduce``: Conv1x1(no bias) -> BN,
    without a ReLU. ``none`` and ``avg_pool_3x3`` cannot change the width here (``ValueError``)."""
    c_in = channels if c_in is None else c_in
    if c_in != channels:
        if name == "skip_connect":
            return nn.Sequential(nn.Conv2d(c_in, channels, 1, bias=False), nn.BatchNorm2d(channels))
        if name in ("none", "avg_pool_3x3"):
            raise ValueError(f"NAS-Bench-201 operation {name!r} cannot map {c_in} to {channels} channels here")
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c_in, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c_in, channels, 3, padding=1)
    if name == "avg_pool_3x3":
        return AvgPool3x3()  # nn.AvgPool2d(3, 1, 1, count_include_pad=False), bit-identical, faster
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r} (known: {', '.join(OPS)})")


class Cell(nn.Module):
    """A NAS-Bench-201 cell: (B, C_in, H, W) -> (B, C, H, W); ``c_in`` defaults to ``channels``
    (the benchmark's cells keep their width; NATS-Bench's size space changes it, see :func:`make_op`)."""

    def __init__(self, ops: tuple[str, ...], channels: int, prune_unreachable: bool = True,
                 c_in: int | None = None) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.edges = nn.ModuleList(make_op(op, channels, c_in if src == 0 else None)
                                   for op, (src, _) in zip(ops, EDGES))
        self.run = live_edges(self.ops) if prune_unreachable else [op != "none" for op in self.ops]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            terms = [self.edges[k](nodes[i]) for k, (i, dst) in enumerate(EDGES) if dst == j and self.run[k]]
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))  # width kept: c_in == C
        return nodes[3]


class ResBlock(nn.Module):
    """The residual reduction block: (B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2, padding=1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, padding=1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def build_network(ops: tuple[str, ...], in_channels: int, channels: int, cells: int,
                  prune_unreachable: bool = True) -> nn.Sequential:
    """Stem, three stages with two reduction blocks, and the final BN -> ReLU:
    (B, C_in, H, W) -> (B, 4C, H/4, W/4). ``prune_unreachable=False`` runs every non-``none``
    edge, as the benchmark's code does (same output)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
    c = channels
    for stage in range(3):
        if stage:
            layers.append(ResBlock(c, 2 * c))
            c *= 2
        layers += [Cell(ops, c, prune_unreachable) for _ in range(cells)]
    layers += [nn.BatchNorm2d(c), nn.ReLU()]
    return nn.Sequential(*layers)
