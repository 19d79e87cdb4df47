"""Declared options and metrics: what a plugin component accepts and what it reports.

Spaces, datasets and evaluators declare their options as :class:`Option` lists. The plan
validator checks every value against these declarations, so a third-party plugin gets
validation (and, later, a generated form in the TUI) without writing any checking code.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INT_RANGE = (-(2**63), 2**63 - 1)
"""Every int option stays in SQLite's (and torch's) signed 64-bit range, whatever it declares."""

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list"}


@dataclass(frozen=True)
class Option:
    """One option of a space, dataset or evaluator.

    ``type`` is the value type (int, float, bool, str or list). ``choices`` lists the allowed
    values for str options; for int/float options it lists extra string values that are also
    accepted (e.g. ``lambda`` is a float or ``"loo"``). ``min``/``max`` bound numbers
    (inclusive) and, for lists, every item. ``item_type`` is the item type of list options.
    ``default`` of None means the option is optional with no value. ``neutral_default``: the
    option was added after results were published and its default reproduces the behaviour from
    before; at that default it stays out of a plan's identity, so results files written before
    it existed still resume.
    """

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    item_type: builtins.type | None = None  # builtins: the field `type` shadows the name here
    gt_min: bool = False  # min is exclusive (value must be > min)
    neutral_default: bool = False

    def describe(self) -> str:
        """Short human-readable allowed range, e.g. ``int >= 1`` or ``'first' | 'stratified'``."""
        if self.type is str and self.choices:
            return " | ".join(repr(c) for c in self.choices)
        base = self.type.__name__ if self.type is not list else f"list[{(self.item_type or object).__name__}]"
        parts = [base]
        if self.min is not None:
            parts.append(f"{'>' if self.gt_min else '>='} {_number(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_number(self.max)}")
        text = " ".join(parts)
        if self.choices and self.type is not str:
            text += " | " + " | ".join(repr(c) for c in self.choices)
        return text

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Validate and coerce one value. Returns ``(value, None)`` or ``(None, message)``."""
        if value is None and self.default is None:
            return None, None
        if self.choices and self.type is not str and isinstance(value, str):
            if value in self.choices:
                return value, None
            return None, f"must be {self.describe()}, got {value!r}"
        if self.type is list:
            if not isinstance(value, list) or not value:
                return None, f"must be a non-empty list, got {value!r}"
            out = []
            for item in value:
                v, err = _check_scalar(self, self.item_type or type(item), item)
                if err:
                    return None, f"list item {err}"
                out.append(v)
            return out, None
        return _check_scalar(self, self.type, value)


def _number(x: float) -> str:
    """A bound as people write it: ``1000000`` rather than ``1e+06`` for whole numbers."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _check_scalar(opt: Option, typ: type, value: Any) -> tuple[Any, str | None]:
    if typ is bool:
        if not isinstance(value, bool):
            return None, f"must be true or false, got {value!r}"
        return value, None
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"must be {opt.describe()}, got {value!r}"
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            return None, f"must be {opt.describe()} and fit in 64 bits, got {value}"
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"must be {opt.describe()}, got {value!r}"
        try:
            value = float(value)
        except OverflowError:  # an integer beyond float range
            return None, f"must be a finite number, got an integer of {value.bit_length()} bits"
        if not math.isfinite(value):
            return None, f"must be a finite number, got {value!r}"
    elif typ is str:
        if not isinstance(value, str):
            return None, f"must be {_TYPE_NAMES[str]}, got {value!r}"
        if opt.choices and value not in opt.choices:
            return None, f"must be {opt.describe()}, got {value!r}"
        return value, None
    if opt.min is not None and (value <= opt.min if opt.gt_min else value < opt.min):  # name the bound it breaks
        return None, f"must be {dataclasses.replace(opt, max=None).describe()}, got {value!r}"
    if opt.max is not None and value > opt.max:
        return None, f"must be {dataclasses.replace(opt, min=None).describe()}, got {value!r}"
    return value, None


SCORE = "score"
"""The role of a metric meant to rank architectures by (a proxy of trained accuracy)."""
DESCRIPTION = "description"
"""The role of a metric that describes an evaluation or an architecture (a time, a size, a
count, a spread, a setting used): shown and sortable, never offered as a proxy to rank by."""
ROLES = (SCORE, DESCRIPTION)


@dataclass(frozen=True)
class Metric:
    """A reported metric: its name, unit, direction (``higher_is_better``) and ``role``.

    ``role`` is :data:`SCORE` (the default: a proxy to rank architectures by; the leaderboard
    ``rcx analyze proxies``, stage selection and the TUI's chart offer it) or
    :data:`DESCRIPTION` (a time such as ``seconds``, a throughput, a size or count such as an
    evaluator's own ``params``/``flops`` copy or ``relu_units``, a spread such as ``score_std``,
    a setting such as ``lambda``): it is stored, shown and sortable (its direction orders it),
    but analyses leave it out of the proxies and nothing defaults to ranking by it. The test kit
    (``rcx.testing``) warns when a time, throughput or architecture-size metric is declared a score.
    """

    name: str
    unit: str
    higher_is_better: bool
    help: str = ""
    role: str = SCORE

    @property
    def is_score(self) -> bool:
        """Whether the metric ranks architectures (``role == "score"``)."""
        return self.role == SCORE


def validate_options(
    declared: Sequence[Option], given: dict[str, Any], where: str
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check ``given`` against ``declared``; fill defaults.

    Returns ``(values, problems)`` where ``problems`` holds ``(key path, message)`` pairs with
    ``where`` as the key-path prefix. Unknown keys are problems that list the known ones.
    """
    by_name = {o.name: o for o in declared}
    values: dict[str, Any] = {o.name: o.default for o in declared}
    problems: list[tuple[str, str]] = []
    known = ""
    for key, value in given.items():
        opt = by_name.get(key)
        if opt is None:
            known = known or ", ".join(sorted(by_name)) or "none"
            problems.append((f"{where}.{key}", f"unknown option (known: {known})"))
            continue
        v, err = opt.check(value)
        if err:
            problems.append((f"{where}.{key}", err))
        else:
            values[key] = v
    return values, problems
