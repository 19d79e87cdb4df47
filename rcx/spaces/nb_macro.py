"""``nb_macro``: NAS-Bench-Macro (Su et al., CVPR 2021), faithful to the benchmark.

A MobileNetV2-style network (:mod:`rcx.nn.nb_macro`) of 8 searchable layers in stages of
2 / 3 / 3, 32 initial channels; each layer is ``0`` identity, ``1`` MB3_K3 or ``2`` MB6_K5, so
depth varies. Ids are the benchmark's 8-digit codes (``21102210``, first layer first).

Codes that differ only in where a stage's stride-1 identities sit build the same network, and
the benchmark trained each network once: the space holds the 3,969 distinct networks, each
under its **canonical code**, the one the benchmark trained (its ``get_real_arch`` rule,
:func:`rcx.nn.nb_macro_codes.canonical_code`): within a stage, the first layer stays where it
is and the other non-identity layers move to the front, identities to the end. ``from_id``
accepts any of the 3 ** 8 = 6,561 codes and returns the canonical architecture
(``from_id("01002000").id == "01020000"``), so a run's ids, the ``ids`` sampler and Optuna
trials all join the ``nb_macro`` truth table. Index order is the canonical codes ascending
(``itertools.product`` order): index 0 is ``00000000``, 3,968 is ``22222222``.

``build`` is the network up to the head conv's BN -> ReLU, (B, C_in, H, W) -> (B, 1280, H/8,
W/8) (each stride-2 layer rounds up); the default untrained-accuracy head (global average
pooling -> Linear(1280, K)) is the benchmark's classifier. ``params`` and ``flops`` count the
feature extractor (multiply-accumulates, bias-free convolutions); the benchmark's figures add
the classifier: ``1280 * K + K`` parameters and ``1280 * K`` FLOPs (CIFAR-10: 387,882
parameters and 7,713,280 FLOPs for ``00000000``). Any input size fits.

Result columns: ``layer1`` ... ``layer8`` (0, 1, 2; also the Optuna grid) and ``depth``, the
number of non-identity layers (0 to 8).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, LayerInfo, SearchSpace
from rcx.nn.nb_macro_codes import (
    BLOCKS,
    CHOICES,
    HEAD_CHANNELS,
    INIT_CHANNELS,
    LAYERS,
    STAGES,
    canonical_code,
    canonical_codes,
)

if TYPE_CHECKING:
    from torch import nn

NAMES = tuple(f"layer{i}" for i in range(1, LAYERS + 1))
"""The result columns (and grid names) of the 8 layers' choices."""


@lru_cache(maxsize=1)
def _codes() -> tuple[str, ...]:
    return canonical_codes()


def _layer_info(choice: str, c_in: int, c_out: int, stride: int, h: int, w: int) -> LayerInfo:
    """One layer at input size ``h`` x ``w``, its costs as :mod:`rcx.nn.nb_macro` builds it."""
    ho, wo = -(-h // stride), -(-w // stride)
    if choice == "0":
        if stride == 1 and c_in == c_out:
            return LayerInfo("identity", (c_out, ho, wo), c_in, c_out)
        return LayerInfo("conv", (c_out, ho, wo), c_in, c_out, 1, stride, 1, 0, params=c_in * c_out + 2 * c_out,
                         flops=c_in * c_out * ho * wo)
    t, k = BLOCKS[choice]
    hid = c_in * t
    params = c_in * hid + 2 * hid + hid * k * k + 2 * hid + hid * c_out + 2 * c_out
    macs = c_in * hid * h * w + (hid * k * k + hid * c_out) * ho * wo
    return LayerInfo(f"mb{t}_k{k}", (c_out, ho, wo), c_in, c_out, k, stride, 1, k // 2, params=params, flops=macs)


class NBMacroSpace(SearchSpace):
    name = "nb_macro"
    version = "1"
    help = "NAS-Bench-Macro: 8 layers of identity / MB3_K3 / MB6_K5 (3,969 distinct networks), 8-digit codes."

    def __len__(self) -> int:
        return len(_codes())

    def _arch(self, code: str) -> Arch:
        params: dict[str, Any] = {n: int(ch) for n, ch in zip(NAMES, code)}
        params["depth"] = sum(ch != "0" for ch in code)
        return Arch(self.name, code, params)

    def arch_at(self, index: int) -> Arch:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self):,})")
        return self._arch(_codes()[index])

    def from_id(self, arch_id: str) -> Arch:
        """The architecture of any 8-digit code, under its canonical code (module doc)."""
        return self._arch(canonical_code(arch_id))

    def index_of(self, arch: Arch | str) -> int:
        """The index of an architecture (or any of its codes): ``arch_at(index_of(a)) == from_id(a)``."""
        return bisect.bisect_left(_codes(), canonical_code(arch if isinstance(arch, str) else arch.id))

    def grid(self) -> dict[str, Sequence[Any]]:
        """One categorical choice per layer, ``layer1`` ... ``layer8`` in (0, 1, 2); codes that
        build the same network give the same (canonical) architecture."""
        return {n: tuple(range(len(CHOICES))) for n in NAMES}

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        return self.from_id("".join(str(int(values[n])) for n in NAMES))

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        code = canonical_code(arch.id)
        c_in, h, w = (int(v) for v in in_shape)
        c = INIT_CHANNELS
        layers = [LayerInfo("conv", (c, h, w), c_in, c, 3, 1, 1, 1, c_in * c * 9, c_in * c * 9 * h * w),
                  LayerInfo("bn", (c, h, w), c, c, params=2 * c), LayerInfo("relu", (c, h, w))]
        at = 0
        for n in STAGES:
            for i in range(n):
                c_out, stride = (2 * c, 2) if i == 0 else (c, 1)
                layers.append(_layer_info(code[at], c, c_out, stride, h, w))
                c, (_, h, w) = c_out, layers[-1].out_shape
                at += 1
        layers += [LayerInfo("conv", (HEAD_CHANNELS, h, w), c, HEAD_CHANNELS, 1, 1, 1, 0, c * HEAD_CHANNELS,
                             c * HEAD_CHANNELS * h * w),
                   LayerInfo("bn", (HEAD_CHANNELS, h, w), HEAD_CHANNELS, HEAD_CHANNELS, params=2 * HEAD_CHANNELS),
                   LayerInfo("relu", (HEAD_CHANNELS, h, w))]
        features = HEAD_CHANNELS * h * w
        return ArchInfo(True, in_shape=(c_in, *in_shape[1:]), out_shape=(HEAD_CHANNELS, h, w),
                        params=sum(x.params for x in layers), flops=sum(x.flops for x in layers),
                        features=features, ratio=features / (c_in * in_shape[1] * in_shape[2]),
                        layers=tuple(layers))

    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        """The network (module doc) of the architecture's canonical code."""
        from rcx.nn.nb_macro import build_network

        return build_network(canonical_code(arch.id), int(in_shape[0]))

    def is_valid(self, arch: Arch, in_shape: tuple[int, int, int]) -> bool:
        """Every input size fits (the samplers' fast path)."""
        return True
