"""``mlp2``: fully connected networks with two hidden ReLU layers (seed 002's MNIST study).

Architecture ``u{n1}-{n2}``: flatten the image (``d = C*H*W`` inputs, 784 for MNIST) ->
``Linear(d, n1)`` -> ReLU -> ``Linear(n1, n2)`` -> ReLU, each width one of ``units``
(default the paper's 8, 16, 24, 32, 56, 64, 96, 128, 256, 512, 1024, 2048: 12 ** 2 = 144
architectures). ``build`` returns the hidden layers with the output viewed as (B, n2, 1, 1), so
the default untrained-accuracy head (average pooling over 1x1, then ``Linear(n2, classes)``)
is exactly the paper's output layer. The paper initialises with He uniform (Keras
``he_uniform``, zero biases): ``init = "kaiming_uniform"`` in an evaluator.

Order: ``itertools.product`` over (n1, n2) in the configured order, n1 most significant. Every
architecture fits every input. ``flops`` are the two layers' multiply-accumulates per image.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, LayerInfo, SearchSpace
from rcx.api.options import Option

if TYPE_CHECKING:
    from torch import nn

UNITS = [8, 16, 24, 32, 56, 64, 96, 128, 256, 512, 1024, 2048]
_ID_RE = re.compile(r"^u(\d+)-(\d+)$")


class MLP2Space(SearchSpace):
    name = "mlp2"
    version = "1"
    help = "Two hidden ReLU layers, 12 widths each: 144 MLPs (seed 002's MNIST study)."
    options = [Option("units", list, UNITS, "widths a hidden layer may have", item_type=int, min=1)]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        values = self.config
        self.units: list[int] = values["units"]
        if len(set(self.units)) != len(self.units):
            raise ValueError(f"{self.name}.units: values must be distinct, got {self.units}")

    def __len__(self) -> int:
        return len(self.units) ** 2

    def _arch(self, n1: int, n2: int) -> Arch:
        return Arch(self.name, f"u{n1}-{n2}", {"units1": n1, "units2": n2})

    def arch_at(self, index: int) -> Arch:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self):,})")
        i, j = divmod(index, len(self.units))
        return self._arch(self.units[i], self.units[j])

    def _parse(self, arch_id: str) -> tuple[int, int]:
        m = _ID_RE.match(arch_id)
        if not m:
            raise ValueError(f"malformed {self.name} id {arch_id!r}: expected e.g. 'u64-2048' (units of the two "
                             "hidden layers)")
        n1, n2 = int(m.group(1)), int(m.group(2))
        for n in (n1, n2):
            if n not in self.units:
                raise ValueError(f"{self.name} id {arch_id!r}: {n} units is not in this space "
                                 f"(units: {', '.join(map(str, self.units))})")
        return n1, n2

    def from_id(self, arch_id: str) -> Arch:
        return self._arch(*self._parse(arch_id))

    def grid(self) -> dict[str, Sequence[Any]]:
        return {"units1": self.units, "units2": self.units}

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        return self._arch(int(values["units1"]), int(values["units2"]))

    def index_of(self, arch: Arch | str) -> int:
        """The canonical index of an architecture (or id): ``arch_at(index_of(a)) == a``."""
        n1, n2 = self._parse(arch if isinstance(arch, str) else arch.id)
        return self.units.index(n1) * len(self.units) + self.units.index(n2)

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        n1, n2 = self._parse(arch.id)
        d = int(in_shape[0]) * int(in_shape[1]) * int(in_shape[2])
        layers = (
            LayerInfo("linear", (n1, 1, 1), d, n1, params=d * n1 + n1, flops=d * n1),
            LayerInfo("relu", (n1, 1, 1)),
            LayerInfo("linear", (n2, 1, 1), n1, n2, params=n1 * n2 + n2, flops=n1 * n2),
            LayerInfo("relu", (n2, 1, 1)),
        )
        return ArchInfo(True, in_shape=tuple(int(v) for v in in_shape), out_shape=(n2, 1, 1),  # type: ignore[arg-type]
                        params=sum(x.params for x in layers), flops=sum(x.flops for x in layers), features=n2,
                        ratio=n2 / d, layers=layers)

    def is_valid(self, arch: Arch, in_shape: tuple[int, int, int]) -> bool:
        return True

    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        from torch import nn

        n1, n2 = self._parse(arch.id)
        d = int(in_shape[0]) * int(in_shape[1]) * int(in_shape[2])
        return nn.Sequential(nn.Flatten(), nn.Linear(d, n1), nn.ReLU(), nn.Linear(n1, n2), nn.ReLU(),
                             nn.Unflatten(1, (n2, 1, 1)))
