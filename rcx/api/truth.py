"""Truth tables: a benchmark's measured value per architecture id (e.g. NAS-Bench-201's test
accuracy), registered with ``rcx_register_truths`` and joined to results by architecture id
(``rcx results DB --truth NAME:SUBSET``, ``rcx analyze``).

A truth table covers one search space (``space``) and holds one value per architecture id and
subset (e.g. NAS-Bench-201's test accuracy on ``cifar10``, ``cifar100``, ``imagenet16``).
Subsets are declared like evaluator metrics (:class:`~rcx.api.options.Metric`: name, unit,
direction), so ``rcx plugins -v`` lists them and analyses know which way is better. The ids
must be the space's canonical ids (``SearchSpace.canonical``). Loading one is a file read: no
torch.
"""

from __future__ import annotations

from typing import ClassVar

from rcx.api.options import Metric, Option

Values = dict[str, dict[str, float]]
"""``{architecture id: {subset: value}}``; a subset absent from an id's dict is a missing value."""


class TruthTable:
    """Base class of truth tables. Subclasses declare ``name``, ``space`` (the search space whose
    ids they key by), ``subsets`` (one :class:`Metric` per column), ``attribution`` (where the
    numbers come from and their licence) and implement :meth:`load`."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    help: ClassVar[str] = ""
    space: ClassVar[str]
    subsets: ClassVar[tuple[Metric, ...]] = ()
    attribution: ClassVar[str] = ""
    #: Truth tables take no options (the attribute keeps ``rcx plugins -v`` uniform).
    options: ClassVar[tuple[Option, ...]] = ()

    def load(self) -> Values:
        """Every architecture id the table knows with its values; called once per process
        (rcx caches it)."""
        raise NotImplementedError

    @classmethod
    def subset(cls, name: str) -> Metric:
        """The declared subset ``name``; ``KeyError`` naming the known ones otherwise."""
        for m in cls.subsets:
            if m.name == name:
                return m
        known = ", ".join(f"{cls.name}:{m.name}" for m in cls.subsets)
        raise KeyError(f"truth table {cls.name!r} has no subset {name!r} (known: {known})")
