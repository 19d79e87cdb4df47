"""``depthmult``: n blocks of Conv2d -> ReLU -> BatchNorm2d with a kernel and a width multiplier
per block, plus evenly spaced 2x2 max-pools (seed 000, Evans et al., sections III.C-D).

Block ``i`` (1-based) is ``Conv2d(w_{i-1}, w_i, k_i, stride 1, padding k_i // 2) -> ReLU ->
BatchNorm2d(w_i)``; odd kernels with ``k // 2`` padding keep the spatial size ('same').

Widths: ``w_0 = base_width`` and ``w_i = round_half_up(w_{i-1} * m_i)`` (at least 1). The paper
says "the number of feature maps output from the initial convolution is 24" and that there are
``6 ** n`` unique architectures for ``n`` sampled layers; we read it as: the multiplier of
block 1 already applies to 24 (block 1 outputs 24, 30 or 36), so every one of the ``6 ** n``
choices is a distinct module. The first conv's input is the image (``C`` channels).

Pools: ``pools`` MaxPool2d(2, 2) layers; pool ``j`` (1..pools) follows block
``ceil(n * j / (pools + 1))``: after blocks 1, 2 for n = 3; 2, 4 for n = 5; 3, 6 for n = 9;
4, 8 for n = 11. Two pools that land after the same block are both applied.

Several depths may be configured (``depth = [3, 5]``); the space is the union, so its size is
``sum((|K| |M|) ** n for n in depth)``. Order: depths in the configured order, then
``itertools.product`` order over the blocks' (kernel, multiplier), block 1 most significant and
the kernel more significant than the multiplier.

Id: ``k3-5-3_m1-1.25-1.5`` (the depth is the number of blocks; multipliers print with ``:g``).

An architecture fits an input only if no pool gets a map smaller than its 2x2 kernel. Its
``features`` are the flattened final feature map (the paper's "final layer size").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.options import Option
from rcx.nn.layers import BNSpec, ConvSpec, LayerSpec, MaxPoolSpec, ReLUSpec, build_stack, describe_stack

if TYPE_CHECKING:
    from torch import nn

_ID_RE = re.compile(r"^k([0-9-]+)_m([0-9.-]+)$")
_MAX_SIZE = 2**62  # len() must fit in an index-sized int


@lru_cache(maxsize=4096)
def scaled_width(width: int, mult: float) -> int:
    """``round_half_up(width * mult)``, at least 1, computed in decimal (24 * 1.25 -> 30, 45 * 1.5 -> 68)."""
    value = (Decimal(width) * Decimal(repr(mult))).to_integral_value(ROUND_HALF_UP)
    return max(1, int(value))


def pool_positions(n_blocks: int, pools: int) -> list[int]:
    """The block (1-based) after which each pool goes: ``ceil(n * j / (pools + 1))``, j = 1..pools."""
    return [-(-n_blocks * j // (pools + 1)) for j in range(1, pools + 1)]


class _IntOrList(Option):
    """A list[int] option that also takes a bare integer (``depth = 3`` means ``depth = [3]``)."""

    def describe(self) -> str:
        return f"int or {super().describe()}"

    def check(self, value: Any) -> tuple[Any, str | None]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        return super().check(value)


class DepthMultSpace(SearchSpace):
    name = "depthmult"
    version = "1"
    help = "Conv -> ReLU -> BN blocks with kernel and width multiplier per block, 2 max-pools (seed 000)."
    options = [
        _IntOrList("depth", list, [3], "number(s) of blocks: 3, [3] or [3, 5, 7, 9, 11]", item_type=int, min=1,
                   max=16),
        Option("base_width", int, 24, "w_0: block 1 outputs round(base_width * m_1) channels", min=1),
        Option("kernels", list, [3, 5], "odd kernel sizes a block may use ('same' padding k // 2)",
               item_type=int, min=1),
        Option("mults", list, [1.0, 1.25, 1.5], "width multipliers a block may use", item_type=float, min=0.0,
               gt_min=True),
        Option("pools", int, 2, "number of evenly spaced 2x2 max-pools", min=0),
    ]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        values = self.config
        self.depths: list[int] = values["depth"]
        self.base_width: int = values["base_width"]
        self.kernels: list[int] = values["kernels"]
        self.mults: list[float] = values["mults"]
        self.pools: int = values["pools"]
        for key in ("depth", "kernels", "mults"):
            if len(set(values[key])) != len(values[key]):
                raise ValueError(f"{self.name}.{key}: values must be distinct, got {values[key]}")
        texts = [f"{m:g}" for m in self.mults]
        if len(set(texts)) != len(texts) or any("e" in t for t in texts):
            raise ValueError(f"{self.name}.mults: ids print multipliers with '{{:g}}', so they must differ in "
                             f"6 significant digits and lie in [1e-4, 1e6), got {self.mults}")
        even = [k for k in self.kernels if k % 2 == 0]
        if even:
            raise ValueError(f"{self.name}.kernels: 'same' padding needs odd kernels, got {even[0]}")
        self._per_block = len(self.kernels) * len(self.mults)
        self._sizes = [self._per_block**n for n in self.depths]
        if sum(self._sizes) > _MAX_SIZE:
            raise ValueError(f"{self.name}: {sum(self._sizes):.3g} architectures is too many (at most 2**62)")

    def __len__(self) -> int:
        return sum(self._sizes)

    # -- indices, choices and ids ---------------------------------------------------------

    def _choices_at(self, index: int) -> list[tuple[int, float]]:
        """Per-block (kernel, mult) at ``index``: the depth's block, then mixed radix (block 1 first)."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self):,})")
        n = self.depths[-1]
        for depth, size in zip(self.depths, self._sizes):
            if index < size:
                n = depth
                break
            index -= size
        digits = []
        for _ in range(n):
            index, digit = divmod(index, self._per_block)
            digits.append(digit)
        nm = len(self.mults)
        return [(self.kernels[d // nm], self.mults[d % nm]) for d in reversed(digits)]

    def widths(self, mults: list[float]) -> list[int]:
        """Output channels of each block for the given multipliers (``w_0 = base_width`` excluded)."""
        out, w = [], self.base_width
        for m in mults:
            w = scaled_width(w, m)
            out.append(w)
        return out

    def _arch(self, choices: list[tuple[int, float]]) -> Arch:
        kernels = [k for k, _ in choices]
        mults = [f"{m:g}" for _, m in choices]
        widths = self.widths([m for _, m in choices])
        arch_id = f"k{'-'.join(map(str, kernels))}_m{'-'.join(mults)}"
        return Arch(self.name, arch_id, {"depth": len(choices), "kernel": ",".join(map(str, kernels)),
                                         "mult": ",".join(mults), "widths": ",".join(map(str, widths))})

    def arch_at(self, index: int) -> Arch:
        return self._arch(self._choices_at(index))

    def _parse(self, arch_id: str) -> list[tuple[int, float]]:
        m = _ID_RE.match(arch_id)
        if not m:
            raise ValueError(f"malformed {self.name} id {arch_id!r}: expected e.g. 'k3-5-3_m1-1.25-1.5' "
                             "(kernels, then width multipliers, one per block)")
        kpart, mpart = m.groups()
        try:
            kernels = [int(v) for v in kpart.split("-")]
            mults = [float(v) for v in mpart.split("-")]
        except ValueError:
            raise ValueError(f"malformed {self.name} id {arch_id!r}: kernels must be integers and multipliers "
                             "numbers, each separated by '-'") from None
        if len(kernels) != len(mults):
            raise ValueError(f"{self.name} id {arch_id!r} has {len(kernels)} kernels but {len(mults)} multipliers")
        if len(kernels) not in self.depths:
            raise ValueError(f"{self.name} id {arch_id!r} has {len(kernels)} blocks; this space's depths are "
                             f"{', '.join(map(str, self.depths))}")
        bad_k = [k for k in kernels if k not in self.kernels]
        if bad_k:
            raise ValueError(f"{self.name} id {arch_id!r}: kernel {bad_k[0]} is not in this space "
                             f"(kernels: {', '.join(map(str, self.kernels))})")
        by_text = {f"{x:g}": x for x in self.mults}
        try:
            mults = [by_text[f"{x:g}"] for x in mults]
        except KeyError:
            bad = next(x for x in mults if f"{x:g}" not in by_text)
            raise ValueError(f"{self.name} id {arch_id!r}: multiplier {bad:g} is not in this space "
                             f"(mults: {', '.join(by_text)})") from None
        return list(zip(kernels, mults))

    def from_id(self, arch_id: str) -> Arch:
        return self._arch(self._parse(arch_id))

    def grid(self) -> dict[str, Sequence[Any]]:
        """``depth`` (an integer range when the depths are consecutive), then per block b up to the
        deepest: ``kernel{b}``, ``mult{b}`` (blocks beyond the depth are ignored)."""
        depths = sorted(self.depths)
        consecutive = depths == list(range(depths[0], depths[-1] + 1))
        out: dict[str, Sequence[Any]] = {"depth": range(depths[0], depths[-1] + 1) if consecutive else depths}
        for block in range(1, depths[-1] + 1):
            out |= {f"kernel{block}": self.kernels, f"mult{block}": self.mults}
        return out

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        depth = int(values["depth"])
        if depth not in self.depths:
            raise ValueError(f"{self.name}: depth {depth} is not one of {self.depths}")
        return self._arch([(int(values[f"kernel{b}"]), float(values[f"mult{b}"])) for b in range(1, depth + 1)])

    def index_of(self, arch: Arch | str) -> int:
        """The canonical index of an architecture (or id): ``arch_at(index_of(a)) == a``."""
        choices = self._parse(arch if isinstance(arch, str) else arch.id)
        n = len(choices)
        offset = sum(self._sizes[: self.depths.index(n)])
        nm = len(self.mults)
        index = 0
        for k, m in choices:
            index = index * self._per_block + self.kernels.index(k) * nm + self.mults.index(m)
        return offset + index

    # -- shapes, cost and modules ---------------------------------------------------------

    def _specs(self, arch: Arch, in_channels: int) -> tuple[list[LayerSpec], list[str]]:
        choices = self._parse(arch.id)
        widths = self.widths([m for _, m in choices])
        after = pool_positions(len(choices), self.pools)
        specs: list[LayerSpec] = []
        names: list[str] = []
        c = in_channels
        for i, ((k, _), w) in enumerate(zip(choices, widths), start=1):
            specs += [ConvSpec(c, w, k, padding=k // 2), ReLUSpec(), BNSpec(w)]
            names += [f"block {i}"] * 3
            for j, block in enumerate(after, start=1):
                if block == i:
                    specs.append(MaxPoolSpec(2, 2))
                    names.append(f"pool {j} after block {i}")
            c = w
        return specs, names

    def specs(self, arch: Arch, in_channels: int) -> list[LayerSpec]:
        """The layer specs of ``arch`` for inputs with ``in_channels`` channels."""
        return self._specs(arch, in_channels)[0]

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        specs, names = self._specs(arch, in_shape[0])
        return describe_stack(specs, in_shape, names)

    def is_valid(self, arch: Arch, in_shape: tuple[int, int, int]) -> bool:
        """``describe(arch, in_shape).valid`` without building specs (the samplers' fast path)."""
        h, w = in_shape[1], in_shape[2]
        for _ in range(self.pools):
            if min(h, w) < 2:
                return False
            h, w = h // 2, w // 2
        return True

    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        return build_stack(self.specs(arch, in_shape[0]))
