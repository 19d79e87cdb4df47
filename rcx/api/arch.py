"""The search-space interface: architectures, their ids, and what they cost.

A space is a finite, indexed set of architectures. Index ``i`` maps to one architecture in a
deterministic order (exhaustive sampling walks the indices; random sampling draws indices with
a seeded generator). Every architecture has a canonical, human-readable id that round-trips:
``space.from_id(arch.id) == arch`` and builds the same module.

An id a user writes (the ``ids`` sampler, a CSV ``file``) may be spelled otherwise
(``c08-16`` for ``c8-16``): rcx keys results by :meth:`SearchSpace.canonical`, so each
architecture is evaluated once, under one id. The default reads the id with ``from_id`` and
takes the id of what it built; a space whose ``from_id`` keeps the spelling it was given must
override :meth:`~SearchSpace.canonical` (``rcx.testing.check_space`` checks it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rcx.api.options import Option, validate_options

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Arch:
    """One architecture of a space.

    ``id`` is canonical; ``params`` are the architecture's parameters as flat scalar columns
    (str/int/float) that results tables show under their own names. They identify the
    architecture: two ids of one space with equal, non-empty ``params`` are one architecture
    (the ``ids`` sampler refuses a list that names it twice under two ids).
    """

    space: str
    id: str
    params: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class LayerInfo:
    """One layer as shown in an architecture's detail view.

    ``out_shape`` is (C, H, W) after the layer. Conv fields are None for other layer kinds.
    """

    kind: str  # "conv", "relu", "bn", "maxpool", "avgpool", "linear", ...
    out_shape: tuple[int, int, int]
    in_channels: int | None = None
    out_channels: int | None = None
    kernel: int | None = None
    stride: int | None = None
    dilation: int | None = None
    padding: int | None = None
    params: int = 0
    flops: int = 0


@dataclass(frozen=True)
class ArchInfo:
    """An architecture at a given input shape.

    ``valid`` is False with a ``reason`` when the architecture does not fit the input.
    ``params`` counts parameters; ``flops`` counts multiply-accumulates per image (the
    fvcore/thop convention that NAS-Bench-201 also uses); ``features`` is the number of
    output elements per image (C*H*W), ``ratio`` = output elements / input elements.
    """

    valid: bool
    reason: str = ""
    in_shape: tuple[int, int, int] = (0, 0, 0)
    out_shape: tuple[int, int, int] | None = None
    params: int = 0
    flops: int = 0
    features: int = 0
    ratio: float = 0.0
    layers: tuple[LayerInfo, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The scalar columns stored next to every result."""
        return {
            "params": self.params,
            "flops": self.flops,
            "features": self.features,
            "ratio": self.ratio,
            "out_shape": "x".join(map(str, self.out_shape)) if self.out_shape else "",
        }


class SearchSpace(ABC):
    """Base class of search spaces. Subclasses declare ``name``, ``version``, ``options``."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    help: ClassVar[str] = ""
    options: ClassVar[list[Option]] = []

    def __init__(self, **options: Any) -> None:
        """Check ``options`` against the declared ``options`` (types, choices, bounds, unknown
        keys) and keep them, defaults filled in, as ``self.config``. Raises ``ValueError`` with
        every problem as ``NAME.KEY: message``, joined by "; ". A subclass with checks of its own
        (values that must differ...) calls this first and reads ``self.config``."""
        values, problems = validate_options(self.options, options, getattr(self, "name", type(self).__name__))
        if problems:
            raise ValueError("; ".join(f"{path}: {msg}" for path, msg in problems))
        self.config = values

    @abstractmethod
    def __len__(self) -> int:
        """Number of architectures in the space."""

    @abstractmethod
    def arch_at(self, index: int) -> Arch:
        """The architecture at ``index`` (0 <= index < len(self)), in the canonical order."""

    @abstractmethod
    def from_id(self, arch_id: str) -> Arch:
        """Parse a canonical id; raises ``ValueError`` with a helpful message if malformed."""

    def canonical(self, arch_id: str) -> str:
        """The canonical spelling of ``arch_id``; ``ValueError`` when it names no architecture.

        The default is the id of ``from_id(arch_id)``: right for a space whose ``from_id``
        builds the id from the values it parsed (``k07-3-5...`` -> ``k7-3-5...``). Override it
        when ``from_id`` keeps the spelling it is given. ``canonical(arch.id) == arch.id`` for
        every architecture of the space."""
        return self.from_id(arch_id).id

    @abstractmethod
    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        """Shapes, params and FLOPs at ``in_shape`` (C, H, W), without building a module."""

    @abstractmethod
    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        """The feature extractor as a module mapping (B, C, H, W) -> (B, C', H', W').

        Weights are PyTorch-default initialised; evaluators re-initialise them from their own
        seeded generator (``rcx.api.init.init_weights``)."""

    def build_classifier(self, arch: Arch, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        """A classifier for untrained accuracy, (B, C, H, W) -> logits (B, num_classes).

        The default head: :meth:`build`, then global average pooling and a ``Linear(C',
        num_classes)`` (with bias) that is initialised like every other layer. For ``nb201`` this
        is the benchmark's own classifier; for conv stacks without one (``ksd``, ``depthmult``)
        it is rcx's documented head; ``mlp2``'s 1x1 output makes it the MLP's output layer.
        Spaces with their own classifier override this."""
        from torch import nn

        info = self.describe(arch, in_shape)
        if not info.valid or info.out_shape is None:
            raise ValueError(f"{arch.id} does not fit {in_shape}: {info.reason}")
        return nn.Sequential(self.build(arch, in_shape), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(info.out_shape[0], num_classes))

    def grid(self) -> dict[str, Sequence[Any]] | None:
        """The space's parameters for search (the ``optuna`` sampler): name -> allowed values,
        a ``range`` for an integer (e.g. a depth), any other sequence for a categorical choice.

        None (the default) says the space cannot be searched; a plan that asks is refused at
        plan check. Conditional parameters are fine: :meth:`from_grid` ignores those a value
        leaves unused (e.g. the fifth block's kernel at depth 3)."""
        return None

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        """The architecture of one value per :meth:`grid` name; ``ValueError`` if none fits."""
        raise NotImplementedError(f"{self.name} declares no parameter grid")

    def __iter__(self) -> Iterator[Arch]:
        for i in range(len(self)):
            yield self.arch_at(i)
