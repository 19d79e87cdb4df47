"""``nats_sss``: NATS-Bench's size search space (Dong et al., TPAMI 2021), faithful to the benchmark.

Every architecture is the same network, NAS-Bench-201's best cell fixed with one cell per stage
(:mod:`rcx.nn.nats_sss`), with five widths ``c0:c1:c2:c3:c4``, each one of 8, 16, ..., 64:
8 ** 5 = 32,768 networks. Ids are the official channel strings (``64:64:56:64:24``), so rows join
with NATS-Bench's tables (the ``nats_sss`` truth table). Index order is ``itertools.product``
over the five widths, ``c0`` most significant: index 0 is ``8:8:8:8:8``, 32,767 is
``64:64:64:64:64``; it is also the benchmark's own index order.

``build`` is the network up to the final BN -> ReLU, (B, C_in, H, W) -> (B, c4, H/4, W/4); the
default untrained-accuracy head (global average pooling -> Linear(c4, K)) is the benchmark's
classifier. ``params`` and ``flops`` count the feature extractor (multiply-accumulates,
bias-free convolutions); NATS-Bench's parameter counts add the classifier, ``c4 * K + K``
(CIFAR-10: 11,714 parameters for ``8:8:8:8:8``, 713,674 for ``64:64:64:64:64``; the
space's tests check all 32,768 against the benchmark). Both reduction blocks need an
even input, so the input's height and width must be multiples of 4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, LayerInfo, SearchSpace
from rcx.nn.nb201_topology import BEST_CELL, cell_cost, res_cost

if TYPE_CHECKING:
    from torch import nn

WIDTHS = tuple(range(8, 65, 8))
"""The widths each of the five positions takes, in the benchmark's order."""
POSITIONS = 5
NAMES = tuple(f"c{i}" for i in range(POSITIONS))
"""The result columns (and grid names) of the five widths."""


def parse_channels(text: str) -> tuple[int, ...]:
    """The five widths of an official channel string; ``ValueError`` naming the problem."""
    parts = str(text).split(":")
    hint = "expected five widths in 8, 16, ..., 64 separated by ':', e.g. '64:64:56:64:24'"
    if len(parts) != POSITIONS:
        raise ValueError(f"malformed nats_sss id {text!r}: {len(parts)} widths; {hint}")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"malformed nats_sss id {text!r}: not all widths are integers; {hint}") from None
    bad = [v for v in values if v not in WIDTHS]
    if bad or any(p != str(v) for p, v in zip(parts, values)):
        raise ValueError(f"nats_sss id {text!r}: width {bad[0] if bad else parts} not in 8, 16, ..., 64; {hint}")
    return values


class NATSSizeSpace(SearchSpace):
    name = "nats_sss"
    version = "1"
    help = "NATS-Bench size space: 5 widths in 8..64 (8 ** 5 = 32,768), official channel strings c0:c1:c2:c3:c4."

    def __len__(self) -> int:
        return len(WIDTHS) ** POSITIONS

    def _arch(self, widths: tuple[int, ...]) -> Arch:
        params: dict[str, Any] = dict(zip(NAMES, widths))
        return Arch(self.name, ":".join(map(str, widths)), params)

    def arch_at(self, index: int) -> Arch:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self):,})")
        digits = []
        for _ in range(POSITIONS):
            index, d = divmod(index, len(WIDTHS))
            digits.append(WIDTHS[d])
        return self._arch(tuple(reversed(digits)))

    def from_id(self, arch_id: str) -> Arch:
        return self._arch(parse_channels(arch_id))

    def index_of(self, arch: Arch | str) -> int:
        """The index of an architecture (or id): ``arch_at(index_of(a)) == a``."""
        index = 0
        for w in parse_channels(arch if isinstance(arch, str) else arch.id):
            index = index * len(WIDTHS) + WIDTHS.index(w)
        return index

    def grid(self) -> dict[str, Sequence[Any]]:
        """One integer per width, ``c0`` ... ``c4``, each ``range(8, 72, 8)`` (the result columns)."""
        return {n: range(WIDTHS[0], WIDTHS[-1] + 8, 8) for n in NAMES}

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        widths = tuple(int(values[n]) for n in NAMES)
        return self.from_id(":".join(map(str, widths)))

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        c0, c1, c2, c3, c4 = parse_channels(arch.id)
        c_in, h, w = (int(v) for v in in_shape)
        if h % 4 or w % 4:
            return ArchInfo(False, f"input {h}x{w}: NATS-Bench's two reduction blocks need height and width that "
                                   "are multiples of 4 (e.g. 32x32 or 16x16)", in_shape=(c_in, h, w))

        def cell(c_prev: int, c: int) -> LayerInfo:
            p, m = cell_cost(BEST_CELL, c, c_prev)
            return LayerInfo("cell", (c, h, w), c_prev, c, params=p, flops=m * h * w)

        def res(c_prev: int, c: int) -> LayerInfo:
            p, m = res_cost(c_prev, c)
            return LayerInfo("resblock", (c, h, w), c_prev, c, 3, 2, params=p, flops=m * h * w)

        layers = [LayerInfo("conv", (c0, h, w), c_in, c0, 3, 1, 1, 1, c_in * c0 * 9, c0 * h * w * c_in * 9),
                  LayerInfo("bn", (c0, h, w), c0, c0, params=2 * c0), cell(c0, c0)]
        h, w = h // 2, w // 2
        layers += [res(c0, c1), cell(c1, c2)]
        h, w = h // 2, w // 2
        layers += [res(c2, c3), cell(c3, c4),
                   LayerInfo("bn", (c4, h, w), c4, c4, params=2 * c4), LayerInfo("relu", (c4, h, w))]
        features = c4 * h * w
        return ArchInfo(True, in_shape=(c_in, *in_shape[1:]), out_shape=(c4, h, w),
                        params=sum(x.params for x in layers), flops=sum(x.flops for x in layers),
                        features=features, ratio=features / (c_in * in_shape[1] * in_shape[2]),
                        layers=tuple(layers))

    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        """The network (module doc); every edge of the fixed cell reaches its output."""
        from rcx.nn.nats_sss import build_network

        return build_network(parse_channels(arch.id), int(in_shape[0]))  # type: ignore[arg-type]

    def is_valid(self, arch: Arch, in_shape: tuple[int, int, int]) -> bool:
        """``describe(arch, in_shape).valid`` without the arithmetic (the samplers' fast path)."""
        return in_shape[1] % 4 == 0 and in_shape[2] % 4 == 0
