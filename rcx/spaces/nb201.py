"""``nb201``: the NAS-Bench-201 cell space (Dong & Yang, ICLR 2020), faithful to the benchmark.

Every architecture is one cell (6 edges, each one of 5 operations: 5 ** 6 = 15,625) repeated
``cells`` times in each of three stages; see :mod:`rcx.nn.nb201` for the skeleton. The
benchmark's own setting is ``channels = 16``, ``cells = 5``; smaller values make tests fast.

Ids are the official architecture strings, so rows join with NAS-Bench-201's tables::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

(``op~i`` is the edge from node ``i``; the groups are nodes 1, 2, 3). Index order is
``itertools.product`` over the 6 edges in string order (the first edge most significant), each
over the operations in the benchmark's order ``none, skip_connect, nor_conv_1x1, nor_conv_3x3,
avg_pool_3x3``: index 0 is all ``none``. These indices are rcx's, not the benchmark's (whose
order comes from its meta file): join by id.

``build`` is the network up to the final BN -> ReLU, (B, C_in, H, W) -> (B, 4C, H/4, W/4); the
untrained-accuracy head (:meth:`SearchSpace.build_classifier`: global average pooling ->
Linear) completes it into the benchmark's classifier. ``params`` and ``flops`` count the
feature extractor as every space does (multiply-accumulates, bias-free convolutions);
NAS-Bench-201's figures add the classifier: ``4C * K + K`` parameters and as many FLOPs for K
classes (CIFAR-10 at C = 16: 73,306 to 1,531,546 parameters, 7.78305 to 220.11969 MFLOPs).
Both reduction blocks need an even input, so the input's height and width must be multiples
of 4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, LayerInfo, SearchSpace
from rcx.api.options import Option
from rcx.nn.nb201_topology import EDGES, OPS, cell_cost, res_cost

if TYPE_CHECKING:
    from torch import nn

_GROUP_RE = re.compile(r"^([a-z0-9_]+)~(\d)$")
_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def arch_string(ops: tuple[str, ...]) -> str:
    """The official string of a cell given its 6 edge operations in :data:`EDGES` order."""
    nodes = []
    for j in (1, 2, 3):
        nodes.append("|" + "|".join(f"{ops[k]}~{i}" for k, (i, dst) in enumerate(EDGES) if dst == j) + "|")
    return "+".join(nodes)


def parse_arch_string(text: str) -> tuple[str, ...]:
    """The 6 edge operations (:data:`EDGES` order) of an official string; ``ValueError`` if malformed."""
    hint = f"expected e.g. {_EXAMPLE!r}"
    groups = text.split("+")
    if len(groups) != 3:
        raise ValueError(f"malformed nb201 id {text!r}: {len(groups)} node groups separated by '+', need 3; {hint}")
    ops: list[str] = []
    for j, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"malformed nb201 id {text!r}: node {j} group {group!r} must start and end with '|'; "
                             f"{hint}")
        items = group[1:-1].split("|")
        if len(items) != j:
            raise ValueError(f"malformed nb201 id {text!r}: node {j} has {len(items)} inputs, needs {j}; {hint}")
        for i, item in enumerate(items):
            m = _GROUP_RE.match(item)
            if not m or int(m.group(2)) != i:
                raise ValueError(f"malformed nb201 id {text!r}: node {j} input {i} is {item!r}, "
                                 f"expected 'OP~{i}'; {hint}")
            if m.group(1) not in OPS:
                raise ValueError(f"nb201 id {text!r}: unknown operation {m.group(1)!r} (known: {', '.join(OPS)})")
            ops.append(m.group(1))
    return tuple(ops)


class NB201Space(SearchSpace):
    name = "nb201"
    version = "1"
    help = "NAS-Bench-201 cells (5 ops x 6 edges = 15,625), official arch strings (seed 002)."
    options = [
        Option("channels", int, 16, "stem width C; the stages have C, 2C, 4C channels (benchmark: 16)", min=1),
        Option("cells", int, 5, "cells per stage (benchmark: 5)", min=1, max=32),
    ]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        values = self.config
        self.channels: int = values["channels"]
        self.cells: int = values["cells"]

    def __len__(self) -> int:
        return len(OPS) ** len(EDGES)

    def _arch(self, ops: tuple[str, ...]) -> Arch:
        params: dict[str, Any] = {f"edge{i}{j}": op for (i, j), op in zip(EDGES, ops)}
        params["convs"] = sum(op.startswith("nor_conv") for op in ops)
        return Arch(self.name, arch_string(ops), params)

    def arch_at(self, index: int) -> Arch:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self):,})")
        digits = []
        for _ in EDGES:
            index, d = divmod(index, len(OPS))
            digits.append(d)
        return self._arch(tuple(OPS[d] for d in reversed(digits)))

    def from_id(self, arch_id: str) -> Arch:
        return self._arch(parse_arch_string(arch_id))

    def grid(self) -> dict[str, Sequence[Any]]:
        """One categorical choice per edge, ``edge01`` ... ``edge23`` (the result columns)."""
        return {f"edge{i}{j}": OPS for i, j in EDGES}

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        return self._arch(tuple(str(values[f"edge{i}{j}"]) for i, j in EDGES))

    def index_of(self, arch: Arch | str) -> int:
        """The canonical index of an architecture (or id): ``arch_at(index_of(a)) == a``."""
        index = 0
        for op in parse_arch_string(arch if isinstance(arch, str) else arch.id):
            index = index * len(OPS) + OPS.index(op)
        return index

    def ops(self, arch: Arch) -> tuple[str, ...]:
        """The 6 edge operations of ``arch`` in :data:`EDGES` order."""
        return parse_arch_string(arch.id)

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        ops = self.ops(arch)
        c_in, h, w = (int(v) for v in in_shape)
        c = self.channels
        if h % 4 or w % 4:
            return ArchInfo(False, f"input {h}x{w}: NAS-Bench-201's two reduction blocks need height and width that "
                                   "are multiples of 4 (e.g. 32x32 or 16x16)", in_shape=(c_in, h, w),
                            params=self._params(ops, c_in))
        layers = [LayerInfo("conv", (c, h, w), c_in, c, 3, 1, 1, 1, c_in * c * 9, c * h * w * c_in * 9),
                  LayerInfo("bn", (c, h, w), c, c, params=2 * c)]
        for stage in range(3):
            if stage:
                h, w = h // 2, w // 2
                layers.append(LayerInfo("resblock", (2 * c, h, w), c, 2 * c, 3, 2, params=self._res_params(c),
                                         flops=res_cost(c, 2 * c)[1] * h * w))
                c *= 2
            cell_params, cell_macs = self._cell_cost(ops, c)
            layers += [LayerInfo("cell", (c, h, w), c, c, params=cell_params, flops=cell_macs * h * w)] * self.cells
        layers += [LayerInfo("bn", (c, h, w), c, c, params=2 * c), LayerInfo("relu", (c, h, w))]
        features = c * h * w
        return ArchInfo(True, in_shape=(c_in, *in_shape[1:]), out_shape=(c, h, w), params=sum(x.params for x in layers),
                        flops=sum(x.flops for x in layers), features=features,
                        ratio=features / (c_in * in_shape[1] * in_shape[2]), layers=tuple(layers))

    @staticmethod
    def _cell_cost(ops: tuple[str, ...], c: int) -> tuple[int, int]:
        """(parameters, MACs per output pixel) of one cell at ``c`` channels, every edge counted."""
        return cell_cost(ops, c)

    @staticmethod
    def _res_params(c: int) -> int:
        """Reduction block from ``c`` to ``2c`` channels: two 3x3 convs with BN, a 1x1 shortcut conv."""
        return res_cost(c, 2 * c)[0]

    def _params(self, ops: tuple[str, ...], c_in: int) -> int:
        c = self.channels
        total = c_in * c * 9 + 2 * c + 2 * 4 * c
        for stage in range(3):
            if stage:
                total += self._res_params(c)
                c *= 2
            total += self.cells * self._cell_cost(ops, c)[0]
        return total

    def build(self, arch: Arch, in_shape: tuple[int, int, int], prune_unreachable: bool = True) -> nn.Module:
        """The network (module doc). ``prune_unreachable=False`` runs every edge, as the
        benchmark's code does: the same output, more work, and the ReLUs of edges that cannot
        reach a cell's output do switch (what NASWOT's ``edges = "all"`` counts). The keyword is a
        convention, not part of :class:`SearchSpace`: a space that can skip unreachable work takes
        it, and an evaluator that needs every module run passes it where ``build`` accepts it."""
        from rcx.nn.nb201 import build_network

        return build_network(self.ops(arch), int(in_shape[0]), self.channels, self.cells, prune_unreachable)

    def is_valid(self, arch: Arch, in_shape: tuple[int, int, int]) -> bool:
        """``describe(arch, in_shape).valid`` without the arithmetic (the samplers' fast path)."""
        return in_shape[1] % 4 == 0 and in_shape[2] % 4 == 0
