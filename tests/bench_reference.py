"""Reference networks for the benchmark spaces' identity tests, written for these tests from the
published layouts (not copied): NATS-Bench's size-space net (xautodl's ``DynamicShapeTinyNet``
with ``InferCell``, ``ResNetBasicblock``, ``ReLUConvBN`` and stride-1 ``FactorizedReduce``) and
NAS-Bench-Macro's ``Network`` (``train/model.py``). Modules carry the official attribute names,
so their ``state_dict`` keys are the checkpoints' (e.g. ``cells.2.layers.3.conv.weight``), and
they are built from the architecture strings directly, without rcx's code, including
NAS-Bench-Macro codes that are not canonical (every layer in place).

Only the test suite uses them: rcx's modules get these networks' weights copied in order, and
the outputs must agree.
"""

from __future__ import annotations

import torch
from torch import nn

# -- NATS-Bench size space ------------------------------------------------------------------------
GENOTYPE = [[("nor_conv_3x3", 0)], [("nor_conv_3x3", 0), ("nor_conv_3x3", 1)],
            [("skip_connect", 0), ("nor_conv_3x3", 1), ("nor_conv_3x3", 2)]]
"""The fixed cell, node by node: (operation, input node)."""


class RefReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, pad, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return self.op(x)


class RefFactorizedReduce1(nn.Module):
    """The stride-1 branch: a 1x1 conv and BN, no ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.bn(self.conv(x))


class RefInferCell(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self.inputs: list[list[tuple[int, int]]] = []
        for node in GENOTYPE:
            wiring = []
            for op, src in node:
                width = c_in if src == 0 else c_out
                if op == "nor_conv_3x3":
                    layer = RefReLUConvBN(width, c_out, 3, 1, 1)
                else:
                    layer = nn.Identity() if width == c_out else RefFactorizedReduce1(width, c_out)
                wiring.append((len(self.layers), src))
                self.layers.append(layer)
            self.inputs.append(wiring)

    def forward(self, x):
        nodes = [x]
        for wiring in self.inputs:
            nodes.append(sum(self.layers[i](nodes[src]) for i, src in wiring))
        return nodes[-1]


class RefBasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = RefReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = RefReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class RefSizeNet(nn.Module):
    """The size-space classifier of a channel string ``"c0:c1:c2:c3:c4"``: images -> logits."""

    def __init__(self, channels: str, num_classes: int) -> None:
        super().__init__()
        cs = [int(c) for c in channels.split(":")]
        self.stem = nn.Sequential(nn.Conv2d(3, cs[0], 3, padding=1, bias=False), nn.BatchNorm2d(cs[0]))
        self.cells = nn.ModuleList()
        prev = cs[0]
        for c, reduction in zip(cs, [False, True, False, True, False]):
            self.cells.append(RefBasicBlock(prev, c) if reduction else RefInferCell(prev, c))
            prev = c
        self.lastact = nn.Sequential(nn.BatchNorm2d(prev), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(prev, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))


# -- NAS-Bench-Macro ------------------------------------------------------------------------------
class RefIdentity(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return x if self.downsample is None else self.downsample(x)


class RefMBConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, t: int, k: int) -> None:
        super().__init__()
        h = c_in * t
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU(),
            nn.Conv2d(h, h, k, stride, k // 2, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU(),
            nn.Conv2d(h, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = c_in == c_out and stride == 1

    def forward(self, x):
        return self.conv(x) + x if self.shortcut else self.conv(x)


class RefMacroNet(nn.Module):
    """NAS-Bench-Macro's classifier of an 8-digit code, every layer where the code puts it."""

    def __init__(self, code: str, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        layers, c, digits = [], 32, list(code)
        for n in (2, 3, 3):
            for i in range(n):
                d, (c_out, s) = digits.pop(0), ((2 * c, 2) if i == 0 else (c, 1))
                layers.append(RefIdentity(c, c_out, s) if d == "0" else
                              RefMBConv(c, c_out, s, *((3, 3) if d == "1" else (6, 5))))
                c = c_out
        self.features = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Conv2d(c, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x):
        return self.classifier(self.out(self.features(self.stem(x))).flatten(1))


def copy_in_order(src: nn.Module, dst: nn.Module) -> None:
    """Load ``src``'s parameters and buffers into ``dst`` entry by entry in definition order;
    both must hold the same number of entries with the same shapes."""
    a, b = src.state_dict(), dst.state_dict()
    assert len(a) == len(b), f"{len(a)} entries against {len(b)}"
    for (ka, va), (kb, vb) in zip(a.items(), b.items()):
        assert va.shape == vb.shape and ka.rsplit(".", 1)[-1] == kb.rsplit(".", 1)[-1], (ka, va.shape, kb, vb.shape)
    dst.load_state_dict(dict(zip(b, a.values())))


def randomise(net: nn.Module, seed: int) -> None:
    """Random weights and BN statistics (so eval mode exercises the running statistics too)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75 if name.endswith("running_var")
                        else torch.randn(t.shape, generator=g) * 0.2)
