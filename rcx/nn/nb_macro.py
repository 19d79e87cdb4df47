"""NAS-Bench-Macro's network (Su et al., CVPR 2021), as its public ``train/model.py``.

The skeleton for an 8-digit code (:mod:`rcx.nn.nb_macro_codes`), C = 32::

    stem: Conv3x3(C_in -> C, pad 1, no bias) -> BN -> ReLU
    3 stages of 2 / 3 / 3 layers; the first layer of each maps C -> 2C at stride 2, the others
    keep 2C at stride 1 (widths 64, 128, 256)
    -> Conv1x1(256 -> 1280, no bias) -> BN -> ReLU                    (what ``build`` returns)
    [classifier: global average pooling -> Linear(1280, classes), the space's default head]

A layer is ``0`` identity (at stride 2 a Conv1x1(stride 2, no bias) -> BN projection, at
stride 1 nothing), ``1`` MB3_K3 or ``2`` MB6_K5: MobileNetV2's inverted residual block
``Conv1x1(C -> tC) -> BN -> ReLU -> depthwise Conv kxk(stride, pad k//2) -> BN -> ReLU ->
Conv1x1(tC -> C') -> BN``, plus the input when it keeps stride 1 and width. Every BN is affine.
"""

from __future__ import annotations

import torch
from torch import nn

from rcx.nn.nb_macro_codes import BLOCKS, HEAD_CHANNELS, INIT_CHANNELS, STAGES, check_code


class InvertedResidual(nn.Module):
    """MobileNetV2's block (module doc): (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, kernel: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, kernel, stride, padding=kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x if self.residual else self.conv(x)


def make_layer(choice: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """One searchable layer: ``0`` identity (a strided 1x1 projection when it changes shape),
    ``1``/``2`` an inverted residual block (:data:`rcx.nn.nb_macro_codes.BLOCKS`)."""
    if choice == "0":
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
    expansion, kernel = BLOCKS[choice]
    return InvertedResidual(c_in, c_out, stride, expansion, kernel)


def build_network(code: str, in_channels: int) -> nn.Sequential:
    """Stem, the 8 layers of ``code`` and the 1x1 head conv: (B, C_in, H, W) -> (B, 1280, H/8, W/8)
    (each stride-2 layer rounds up: ``ceil(H / 2)``)."""
    code = check_code(code)
    c = INIT_CHANNELS
    layers: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    at = 0
    for n in STAGES:
        for i in range(n):
            layers.append(make_layer(code[at], c, 2 * c if i == 0 else c, 2 if i == 0 else 1))
            c = 2 * c if i == 0 else c
            at += 1
    layers += [nn.Conv2d(c, HEAD_CHANNELS, 1, bias=False), nn.BatchNorm2d(HEAD_CHANNELS), nn.ReLU()]
    return nn.Sequential(*layers)
