"""The network of the ``resnet_lc`` space (:mod:`rcx.spaces.resnet_lc`): CIFAR ResNets with
basic blocks whose spatial convs are LC-Blocks (:mod:`rcx.nn.lc`)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from rcx.nn.lc import LC_NATIVE, LCBlock


def _spatial(cin: int, cout: int, k: int, stride: int, expansion: int) -> nn.Module:
    if expansion == 0:
        return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
    return LCBlock(cin, cout, k, expansion, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    """(B, cin, H, W) -> (B, cout, H / stride, W / stride)."""

    def __init__(self, cin: int, cout: int, stride: int, k: int, expansion: int) -> None:
        super().__init__()
        self.conv1 = _spatial(cin, cout, k, stride, expansion)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _spatial(cout, cout, k, 1, expansion)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def cifar_resnet(depth: int, width: int, expansion: int, kernel: int, in_channels: int = 3) -> nn.Sequential:
    """The feature extractor of ResNet-LC-{depth}-{width}x{expansion}: (B, C, H, W) -> (B, 4W, 1, 1)."""
    n = (depth - 2) // 6
    layers: list[nn.Module] = [_spatial(in_channels, width, kernel, 1, expansion), nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for stage, cout in enumerate((width, 2 * width, 4 * width)):
        for i in range(n):
            layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1, kernel, expansion))
            cin = cout
    layers.append(nn.AdaptiveAvgPool2d(1))
    model = nn.Sequential(*layers)
    setattr(model, LC_NATIVE, True)  # its E is part of the architecture: lc_frozen inserts no blocks
    return model
