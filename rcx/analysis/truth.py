"""Truth tables joined to a run's results by architecture id.

A truth is named ``TABLE:SUBSET`` on the command line (``nb201:cifar10``) and becomes the column
``truth.TABLE.SUBSET`` (``truth.nb201.cifar10``) of the results table, with the subset's declared
direction, so every analysis, ``rcx results`` and the TUI treat it like any other column.
The join is strict: ids must match exactly, and a run on another space, or ids that the table
does not hold, are one error with counts rather than a silently empty column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeGuard, TypeVar

from rcx.analysis.common import AnalysisError

if TYPE_CHECKING:
    from rcx.api.truth import TruthTable
    from rcx.core.results import ResultsTable
    from rcx.plugins import Registry

PREFIX = "truth."


def truth_column(table: str, subset: str) -> str:
    """The results column of a truth subset: ``truth.nb201.cifar10``."""
    return f"{PREFIX}{table}.{subset}"


def is_truth_column(column: str) -> bool:
    """True for ``truth.TABLE.SUBSET`` columns (evaluator columns have a single dot)."""
    return column.startswith(PREFIX) and column.count(".") == 2


def is_spec(text: str | None) -> TypeGuard[str]:
    """Whether a column argument names a truth (``TABLE:SUBSET``) rather than a column."""
    return text is not None and ":" in text


@dataclass(frozen=True)
class TruthSpec:
    """A truth table and the subsets asked for (``nb201:cifar10`` -> one; ``nb201`` -> all)."""

    table: type[TruthTable]
    subsets: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [truth_column(self.table.name, s) for s in self.subsets]


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from rcx.plugins import get_registry

    return get_registry()


def parse_spec(text: str, registry: Registry | None = None, single: bool = False) -> TruthSpec:
    """``TABLE:SUBSET`` (or ``TABLE`` for every subset unless ``single``) as a :class:`TruthSpec`;
    an unknown table or subset raises :class:`AnalysisError` listing the known ones."""
    truths = _registry(registry).truths
    name, colon, subset = text.strip().partition(":")
    cls = truths.get(name)
    if cls is None:
        known = ", ".join(f"{n}:{m.name}" for n, c in sorted(truths.items()) for m in c.subsets) or "none installed"
        raise AnalysisError(f"unknown truth {text!r} (known: {known})")
    if not colon:
        if single and len(cls.subsets) > 1:
            raise AnalysisError(f"truth {name!r} has several subsets; name one: "
                                + ", ".join(f"{name}:{m.name}" for m in cls.subsets))
        return TruthSpec(cls, tuple(m.name for m in cls.subsets))
    try:
        cls.subset(subset)
    except KeyError as exc:
        raise AnalysisError(str(exc.args[0])) from None
    return TruthSpec(cls, (subset,))


def add_truth(table: ResultsTable, spec: TruthSpec, strict: bool = True) -> tuple[ResultsTable, list[str]]:
    """A copy of ``table`` with the spec's subsets as columns; returns ``(table, column names)``.

    ``strict``: a run on another space than the truth's, an empty run, or any architecture id
    absent from the truth raises :class:`AnalysisError` with counts. Otherwise (the TUI) absent
    ids get None, which the analyses count as missing values.
    """
    from rcx.plugins import truth_values

    cls = spec.table
    if table.space is not None and table.space != cls.space:
        raise AnalysisError(f"truth {cls.name!r} covers the {cls.space!r} space; this run is on {table.space!r}")
    if strict and not table.rows:
        raise AnalysisError(f"the run has no architectures to join with truth {cls.name!r}")
    values = truth_values(cls)
    missing = [r["arch"] for r in table.rows if r["arch"] not in values]
    if strict and missing:
        raise AnalysisError(f"{len(missing)} of {len(table.rows)} architectures not in {cls.name} truth "
                            f"({len(values):,} ids of the {cls.space!r} space): e.g. {missing[0]!r}")
    columns = spec.columns
    new = [(c, s) for c, s in zip(columns, spec.subsets) if c not in table.columns]
    if not new:
        return table, columns
    rows = []
    for r in table.rows:
        known = values.get(r["arch"], {})
        rows.append({**r, **{c: known.get(s) for c, s in new}})
    higher = {**table.higher_is_better, **{c: cls.subset(s).higher_is_better for c, s in new}}
    return replace(table, columns=[*table.columns, *(c for c, _ in new)], rows=rows, higher_is_better=higher), columns


def join_specs(table: ResultsTable, specs: Sequence[str], registry: Registry | None = None,
               single: bool = False) -> tuple[ResultsTable, list[str]]:
    """Add every truth of ``specs`` (``TABLE`` or ``TABLE:SUBSET``, strict join); returns the
    table and the added column names in order."""
    out: list[str] = []
    for text in specs:
        table, cols = add_truth(table, parse_spec(text, registry, single=single))
        out += cols
    return table, out


NameT = TypeVar("NameT", str, str | None)  # column arguments, optional ones too


def resolve_names(table: ResultsTable, names: Sequence[NameT],
                  registry: Registry | None = None) -> tuple[ResultsTable, list[NameT]]:
    """Column arguments of an analysis, where any of them may name a truth (``nb201:cifar10``):
    join those (strictly) and return the table with the arguments as column names."""
    out: list[NameT] = []
    for name in names:
        if is_spec(name) and name not in table.columns:  # a CSV header may contain ':' too
            table, cols = join_specs(table, [name], registry, single=True)
            name = cols[0]
        out.append(name)
    return table, out


def space_truths(table: ResultsTable, registry: Registry | None = None) -> ResultsTable:
    """Every subset of every truth table covering the run's space as columns (not strict: for
    the TUI, where a run on another space simply gets none)."""
    if table.space is None:
        return table
    for cls in _registry(registry).truths.values():
        if cls.space == table.space:
            table, _ = add_truth(table, TruthSpec(cls, tuple(m.name for m in cls.subsets)), strict=False)
    return table
