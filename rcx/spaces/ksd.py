"""``ksd``: stacks of Conv2d -> ReLU with a kernel, stride and dilation per layer (seed 001).

Layer ``i`` is ``Conv2d(C_in, channels, k_i, stride=s_i, dilation=d_i, padding=0) -> ReLU``; the
first layer's ``C_in`` is the input's channel count. Each layer picks one (k, s, d) from
``kernels x strides x dilations``, so the space holds ``(|K| |S| |D|) ** layers`` stacks
(36 ** 3 = 46,656 with the defaults).

Order: ``itertools.product`` order over the layers' choices, layer 1 most significant; within a
layer the kernel is most significant, then the stride, then the dilation (in the configured
list order). Index 0 is ``k3-3-3_s1-1-1_d1-1-1``, index 1 ``k3-3-3_s1-1-1_d1-1-2``.

Id: ``k7-3-5_s2-1-2_d1-3-1`` (kernels, strides, dilations, one value per layer).

An architecture fits an input shape when every layer's output is at least 1x1 *and* the output
has no more elements than the input (``C*H*W``), the rule the blog states. At 3x96x96 with the
defaults 32,021 of 46,656 fit (the blog reports 32,629; its script's filter differs from its
stated rule).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.options import Option
from rcx.nn.layers import ConvSpec, LayerSpec, ReLUSpec, build_stack, conv_out, describe_stack

if TYPE_CHECKING:
    from torch import nn

_ID_RE = re.compile(r"^k([0-9-]+)_s([0-9-]+)_d([0-9-]+)$")


class KsdSpace(SearchSpace):
    name = "ksd"
    version = "1"
    help = "Conv -> ReLU stacks with kernel/stride/dilation per layer (seed 001)."
    options = [
        Option("layers", int, 3, "number of conv -> ReLU layers", min=1, max=8),
        Option("channels", int, 32, "output channels of every conv", min=1),
        Option("kernels", list, [3, 5, 7, 9], "kernel sizes a layer may use", item_type=int, min=1),
        Option("strides", list, [1, 2, 3], "strides a layer may use", item_type=int, min=1),
        Option("dilations", list, [1, 2, 3], "dilations a layer may use", item_type=int, min=1),
    ]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        values = self.config
        self.layers: int = values["layers"]
        self.channels: int = values["channels"]
        self.kernels: list[int] = values["kernels"]
        self.strides: list[int] = values["strides"]
        self.dilations: list[int] = values["dilations"]
        for key in ("kernels", "strides", "dilations"):
            if len(set(values[key])) != len(values[key]):
                raise ValueError(f"{self.name}.{key}: values must be distinct, got {values[key]}")
        self._per_layer = len(self.kernels) * len(self.strides) * len(self.dilations)

    def __len__(self) -> int:
        return self._per_layer ** self.layers

    # -- indices, choices and ids ---------------------------------------------------------

    def _choices_at(self, index: int) -> list[tuple[int, int, int]]:
        """Per-layer (k, s, d) at ``index``, decoded in mixed radix (layer 1 most significant)."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self):,})")
        ns, nd = len(self.strides), len(self.dilations)
        digits = []
        for _ in range(self.layers):
            index, digit = divmod(index, self._per_layer)
            digits.append(digit)
        out = []
        for digit in reversed(digits):
            ki, rest = divmod(digit, ns * nd)
            si, di = divmod(rest, nd)
            out.append((self.kernels[ki], self.strides[si], self.dilations[di]))
        return out

    def _arch(self, choices: list[tuple[int, int, int]]) -> Arch:
        ks, ss, ds = (",".join(str(c[j]) for c in choices) for j in range(3))
        arch_id = f"k{ks.replace(',', '-')}_s{ss.replace(',', '-')}_d{ds.replace(',', '-')}"
        return Arch(self.name, arch_id, {"kernel": ks, "stride": ss, "dilation": ds, "depth": len(choices)})

    def arch_at(self, index: int) -> Arch:
        return self._arch(self._choices_at(index))

    def _parse(self, arch_id: str) -> list[tuple[int, int, int]]:
        m = _ID_RE.match(arch_id)
        if not m:
            raise ValueError(f"malformed {self.name} id {arch_id!r}: expected e.g. 'k7-3-5_s2-1-2_d1-3-1' "
                             "(kernels, strides, dilations, one per layer)")
        groups = []
        for part, what, allowed in zip(m.groups(), ("kernel", "stride", "dilation"),
                                       (self.kernels, self.strides, self.dilations)):
            try:
                values = [int(v) for v in part.split("-")]
            except ValueError:
                raise ValueError(f"malformed {self.name} id {arch_id!r}: {what}s {part!r} are not integers") from None
            if len(values) != self.layers:
                raise ValueError(f"{self.name} id {arch_id!r} has {len(values)} {what}s; this space has "
                                 f"{self.layers} layers")
            bad = [v for v in values if v not in allowed]
            if bad:
                raise ValueError(f"{self.name} id {arch_id!r}: {what} {bad[0]} is not in this space "
                                 f"({what}s: {', '.join(map(str, allowed))})")
            groups.append(values)
        return list(zip(*groups))

    def from_id(self, arch_id: str) -> Arch:
        return self._arch(self._parse(arch_id))

    def grid(self) -> dict[str, Sequence[Any]]:
        """Per layer l (1-based): ``kernel{l}``, ``stride{l}``, ``dilation{l}``."""
        out: dict[str, Sequence[Any]] = {}
        for layer in range(1, self.layers + 1):
            out |= {f"kernel{layer}": self.kernels, f"stride{layer}": self.strides, f"dilation{layer}": self.dilations}
        return out

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        return self._arch([(int(values[f"kernel{n}"]), int(values[f"stride{n}"]), int(values[f"dilation{n}"]))
                           for n in range(1, self.layers + 1)])

    def index_of(self, arch: Arch | str) -> int:
        """The canonical index of an architecture (or id): ``arch_at(index_of(a)) == a``."""
        choices = self._parse(arch if isinstance(arch, str) else arch.id)
        nd, ns = len(self.dilations), len(self.strides)
        index = 0
        for k, s, d in choices:
            digit = (self.kernels.index(k) * ns + self.strides.index(s)) * nd + self.dilations.index(d)
            index = index * self._per_layer + digit
        return index

    # -- shapes, cost and modules ---------------------------------------------------------

    def specs(self, arch: Arch, in_channels: int) -> list[LayerSpec]:
        """The layer specs of ``arch`` for inputs with ``in_channels`` channels."""
        specs: list[LayerSpec] = []
        c = in_channels
        for k, s, d in self._parse(arch.id):
            specs += [ConvSpec(c, self.channels, k, stride=s, dilation=d), ReLUSpec()]
            c = self.channels
        return specs

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        names = [f"layer {i // 2 + 1}" for i in range(2 * self.layers)]
        info = describe_stack(self.specs(arch, in_shape[0]), in_shape, names)
        if info.valid and info.ratio > 1:
            c, h, w = info.out_shape  # type: ignore[misc]
            reason = (f"output {c}x{h}x{w} = {info.features} elements exceeds the input's "
                      f"{in_shape[0] * in_shape[1] * in_shape[2]}")
            info = dataclasses.replace(info, valid=False, reason=reason)
        return info

    def is_valid(self, arch: Arch, in_shape: tuple[int, int, int]) -> bool:
        """``describe(arch, in_shape).valid`` by shape arithmetic alone (the samplers' fast path)."""
        c, h, w = in_shape
        for k, s, d in self._parse(arch.id):
            h, w = conv_out(h, k, s, d), conv_out(w, k, s, d)
            if h < 1 or w < 1:
                return False
        return self.channels * h * w <= c * in_shape[1] * in_shape[2]

    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        return build_stack(self.specs(arch, in_shape[0]))
