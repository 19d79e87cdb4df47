"""NATS-Bench's size-space network (Dong et al., TPAMI 2021), as its public ``DynamicShapeTinyNet``.

The topology space's best cell (NAS-Bench-201 index 9930, the best on CIFAR-100 validation)::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|

(:data:`rcx.nn.nb201_topology.BEST_CELL`) is fixed, with one cell per stage, and the five
widths ``c0:c1:c2:c3:c4`` vary::

    stem: Conv3x3(C_in -> c0, pad 1, no bias) -> BN(c0)
    cell(c0 -> c0) -> ResBlock(c0 -> c1, stride 2) -> cell(c1 -> c2) -> ResBlock(c2 -> c3, stride 2)
    -> cell(c3 -> c4) -> BN(c4) -> ReLU                               (what ``build`` returns)
    [classifier: global average pooling -> Linear(c4, classes), the space's default head]

A cell whose input width differs from its output width runs its edges from node 0 from the
input width (``skip_connect`` becomes Conv1x1 -> BN there); see :func:`rcx.nn.nb201.make_op`.
The residual blocks and operations are NAS-Bench-201's (:mod:`rcx.nn.nb201`).
"""

from __future__ import annotations

from torch import nn

from rcx.nn.nb201 import Cell, ResBlock
from rcx.nn.nb201_topology import BEST_CELL


def build_network(channels: tuple[int, int, int, int, int], in_channels: int) -> nn.Sequential:
    """The size-space network of widths ``channels`` (c0..c4): (B, C_in, H, W) -> (B, c4, H/4, W/4)."""
    c0, c1, c2, c3, c4 = (int(c) for c in channels)
    return nn.Sequential(
        nn.Conv2d(in_channels, c0, 3, padding=1, bias=False), nn.BatchNorm2d(c0),
        Cell(BEST_CELL, c0),
        ResBlock(c0, c1),
        Cell(BEST_CELL, c2, c_in=c1),
        ResBlock(c2, c3),
        Cell(BEST_CELL, c4, c_in=c3),
        nn.BatchNorm2d(c4), nn.ReLU(),
    )
