"""``resnet_lc``: CIFAR ResNets (basic blocks) with LC-Blocks, ResNet-LC-{D}-{W}x{E} (seed 003).

The CIFAR ResNet of He et al. (2016, section 4.2): a k x k stem conv to ``W`` channels ->
BN -> ReLU, three stages of ``n = (D - 2) / 6`` basic blocks with ``W``, ``2W``, ``4W``
channels (the first block of stages 2 and 3 has stride 2), global average pooling. A basic
block is conv -> BN -> ReLU -> conv -> BN, plus the shortcut, then ReLU; when the shape changes
the shortcut is a 1x1 conv (stride 2) -> BN (option B). Every spatial conv (the stem and the
blocks' convs, kernel ``k`` with padding ``k // 2``, no bias) is an LC-Block with expansion
``E`` and no intermediate op (``rcx.nn.lc``; the network is :mod:`rcx.nn.resnet_lc`); ``E = 0``
builds the unmodified ResNet (the paper's baseline). ``D`` counts the spatial convs plus the
classifier (6n + 2), as in the paper. The module is marked ``rcx.nn.lc.LC_NATIVE``: ``lc_frozen`` keeps its blocks (only
setting their op) and inserts none, whatever its ``expansion`` option.

The space's module ends at the global average pool: (B, 3, H, W) -> (B, 4W, 1, 1); the training
evaluators add the classifier (flatten + linear), which makes it the CIFAR ResNet.

Ids: ``resnet_lc-20-16x8-k3`` (D, W, E, k); ``resnet_lc-20-16-k3`` for ``E = 0``. Order:
depth, width, expansion, kernel (the last varies fastest), in the configured order.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.options import Option

if TYPE_CHECKING:
    from torch import nn

_ID_RE = re.compile(r"^resnet_lc-(\d+)-(\d+)(?:x(\d+))?-k(\d+)$")


def parse_id(arch_id: str) -> tuple[int, int, int, int]:
    """(depth, width, expansion, kernel) of an id such as ``resnet_lc-20-16x8-k3`` (E = 0 without ``xE``)."""
    m = _ID_RE.match(arch_id)
    if not m:
        raise ValueError(f"malformed resnet_lc id {arch_id!r}: expected e.g. 'resnet_lc-20-16x8-k3' "
                         "(depth, width, expansion, kernel) or 'resnet_lc-20-16-k3' (no LC-Blocks)")
    return int(m[1]), int(m[2]), int(m[3] or 0), int(m[4])


class ResNetLCSpace(SearchSpace):
    name = "resnet_lc"
    version = "1"
    help = "CIFAR ResNets (basic blocks) whose spatial convs are LC-Blocks: ResNet-LC-D-WxE, kernel k (seed 003)."
    options = [
        Option("depth", list, [20], "depths D = 6n + 2 (8, 14, 20, 32, 44, 56, ...)", item_type=int, min=8),
        Option("width", list, [16], "widths W: channels of the first stage (then 2W, 4W)", item_type=int, min=1),
        Option("expansion", list, [1, 8, 64], "LC expansions E (0: no LC-Blocks, the unmodified ResNet)",
               item_type=int, min=0, max=1024),
        Option("kernel", list, [3], "spatial kernel sizes k (odd: 3, 5, 7, 9)", item_type=int, min=1),
    ]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        values, problems = self.config, []
        for d in values["depth"]:
            if (d - 2) % 6:
                problems.append((f"{self.name}.depth", f"depth must be 6n + 2 (8, 14, 20, 32, ...), got {d}"))
        for k in values["kernel"]:
            if k % 2 == 0:
                problems.append((f"{self.name}.kernel", f"'same' padding needs odd kernels, got {k}"))
        for key in ("depth", "width", "expansion", "kernel"):
            if len(set(values[key])) != len(values[key]):
                problems.append((f"{self.name}.{key}", f"values must be distinct, got {values[key]}"))
        if problems:
            raise ValueError("; ".join(f"{path}: {msg}" for path, msg in problems))
        self._grid = list(itertools.product(values["depth"], values["width"], values["expansion"], values["kernel"]))

    def __len__(self) -> int:
        return len(self._grid)

    @staticmethod
    def _arch(d: int, w: int, e: int, k: int) -> Arch:
        arch_id = f"resnet_lc-{d}-{w}{f'x{e}' if e else ''}-k{k}"
        return Arch("resnet_lc", arch_id, {"depth": d, "width": w, "expansion": e, "kernel": k})

    def arch_at(self, index: int) -> Arch:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self)})")
        return self._arch(*self._grid[index])

    def _parse(self, arch_id: str) -> tuple[int, int, int, int]:
        d, w, e, k = parse_id(arch_id)
        if (d, w, e, k) not in self._grid:
            raise ValueError(f"{self.name} id {arch_id!r} is not in this space (depth {self.config['depth']}, "
                             f"width {self.config['width']}, expansion {self.config['expansion']}, "
                             f"kernel {self.config['kernel']})")
        return d, w, e, k

    def from_id(self, arch_id: str) -> Arch:
        return self._arch(*self._parse(arch_id))

    def grid(self) -> dict[str, Sequence[Any]]:
        """``depth``, ``width``, ``expansion``, ``kernel``: each of the space's values."""
        keys = ("depth", "width", "expansion", "kernel")
        return {key: sorted({g[n] for g in self._grid}) for n, key in enumerate(keys)}

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        return self._arch(*(int(values[k]) for k in ("depth", "width", "expansion", "kernel")))

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        from rcx.nn.resnet_lc import cifar_resnet
        from rcx.nn.summary import describe_module

        d, w, e, k = self._parse(arch.id)
        return describe_module(lambda: cifar_resnet(d, w, e, k, in_shape[0]), in_shape)

    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        from rcx.nn.resnet_lc import cifar_resnet

        return cifar_resnet(*self._parse(arch.id), in_channels=in_shape[0])
