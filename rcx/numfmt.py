"""One number format for everything rcx prints: CLI tables, the TUI's table, chart ticks and
legends, analysis tables.

The rule (:func:`format_number`), by the value's type and magnitude:

* integers are counts: every digit, with thousands separators (``5,438``, ``117,882,880``);
* floats keep :data:`DIGITS` significant digits (``188.6``, ``0.9764``, ``0.01230``), trailing
  zeros included so that values of one column read at one precision (``0.9760`` beside
  ``0.9764``, never ``0.976``); from ``10 ** (DIGITS - 1)`` up the integer digits are all kept,
  with separators and no decimals (``24,318``, not ``24,318.0348`` nor ``24,320``);
* below :data:`SMALL` or from :data:`LARGE` up, floats take exponent form (``1.234e-05``),
  where fixed decimals would show zeros or dozens of digits; zero is ``0``;
* NaN and the infinities are ``nan``, ``inf`` and ``-inf``.

Axis ticks and colour-bin bounds use the same rule with as few significant digits as they
need (:func:`format_ticks`, :func:`format_bounds`); the ticks of one axis share their decimals.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

DIGITS = 4
"""Significant digits of a float (4: an accuracy of ``0.8734``, a throughput of ``188.6`` img/s)."""
SMALL = 1e-4
"""Non-zero floats smaller than this in magnitude take exponent form."""
LARGE = 1e15
"""Floats at least this large in magnitude take exponent form."""
MAX_DIGITS = 8
"""The most significant digits :func:`format_ticks` and :func:`format_bounds` go to."""


def _exponent(v: float, digits: int) -> int:
    """The decimal exponent of ``v`` once rounded to ``digits`` significant digits (999.96 at
    4 digits rounds to 1000, exponent 3)."""
    return int(f"{v:.{digits - 1}e}".rpartition("e")[2])


def format_number(v: float | numbers.Real, digits: int = DIGITS, sign: bool = False, scale: float | None = None) -> str:
    """``v`` for reading (the module's rule): ``digits`` significant digits for floats, every
    digit of an integer, thousands separators, exponent form outside ``[SMALL, LARGE)``.

    ``sign`` writes ``+`` before positive values (differences). ``scale`` sets the magnitude
    that decides the decimals in place of ``|v|`` (the largest tick of an axis, so that its
    ticks share their decimals)."""
    if isinstance(v, bool):
        return str(v).lower()
    plus = "+" if sign else ""
    if isinstance(v, numbers.Integral):  # int, numpy integers
        return f"{int(v):{plus},}"
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if digits < 1:
        raise ValueError(f"digits must be at least 1, not {digits}")
    ref = abs(v) if scale is None else abs(scale)
    if ref == 0:
        return "0"
    if ref < SMALL or ref >= LARGE:
        return "0" if v == 0 else f"{v:{plus}.{digits - 1}e}"
    decimals = max(0, digits - 1 - _exponent(ref, digits))
    text = f"{v:{plus},.{decimals}f}"
    # at its own magnitude a value keeps its digits; at a larger scale's decimals it may round to 0
    return "0" if float(text.replace(",", "")) == 0 else text


def format_count(v: float | numbers.Real) -> str:
    """A count that may be fractional (``epochs`` under a step budget, unit ``count``): a whole
    value as the integer it is (``1``, not ``1.000``), another by :func:`format_number` without
    its trailing zeros (``2.5``)."""
    if isinstance(v, bool) or isinstance(v, numbers.Integral):
        return format_number(v)
    v = float(v)
    if math.isfinite(v) and v.is_integer() and abs(v) < LARGE:
        return format_number(int(v))
    text = format_number(v)
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def format_ticks(ticks: Sequence[float], integer: bool = False, max_digits: int = MAX_DIGITS) -> list[str]:
    """Labels of round axis ticks (or bin edges): the rule with the fewest significant digits
    (at the largest tick's magnitude, so the ticks share their decimals) that writes every tick
    exactly, up to ``max_digits``; ``integer`` ticks (counts) are whole numbers."""
    if integer:
        return [format_number(int(round(t))) for t in ticks]
    finite = [t for t in ticks if math.isfinite(t)]
    scale = max((abs(t) for t in finite), default=0.0)
    if scale == 0:
        return [format_number(float(t)) for t in ticks]
    labels: list[str] = []
    for digits in range(1, max_digits + 1):
        labels = [format_number(float(t), digits, scale=scale) for t in ticks]
        if all(_reads_as(label, t) for label, t in zip(labels, ticks)):
            break
    return labels


def format_bounds(bounds: Sequence[float], digits: int = 3) -> list[str]:
    """Labels of bin bounds (a colour key's ``0.0417-0.167``): the rule with the fewest
    significant digits, from ``digits``, that keeps distinct bounds distinct, so a bin never
    reads ``0.01-0.01``."""
    labels: list[str] = []
    for d in range(digits, MAX_DIGITS + 1):
        labels = [format_number(b, d) for b in bounds]
        if all(labels[i] != labels[i + 1] or bounds[i] == bounds[i + 1] for i in range(len(bounds) - 1)):
            break
    return labels


def _reads_as(label: str, value: float) -> bool:
    """Whether ``label`` (as :func:`format_number` writes it) reads back as ``value``."""
    if not math.isfinite(value):
        return True
    back = float(label.replace(",", ""))
    return math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-12 * max(1.0, abs(value)))


def axis_ticks(lo: float, hi: float, n: int = 5, integer: bool = False,
               log: bool = False) -> tuple[list[float], list[str]]:
    """About ``n`` round tick values inside ``[lo, hi]`` (never past the data: an accuracy axis
    ends at 1, not 1.01) and their labels (:func:`format_ticks`); ``integer`` for counts,
    ``log`` for a log axis (1, 2 and 5 times powers of ten, each labelled on its own)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return [], []
    if log and lo > 0:
        ticks: list[float] = [m * 10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                              for m in (1, 2, 5) if lo <= m * 10.0 ** k <= hi]
        if len(ticks) > n:
            decades = [t for t in ticks if math.isclose(math.log10(t) % 1, 0, abs_tol=1e-9)]
            ticks = decades or ticks[:: len(ticks) // n + 1]
        return ticks, [format_ticks([t])[0] for t in ticks]
    if hi == lo:
        return [lo], [format_number(lo)]
    raw = (hi - lo) / max(1, n - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    steps = [m * mag for m in (10, 5, 2.5, 2, 1, 0.5, 0.25, 0.2, 0.1) if m * mag <= 10 * raw]
    steps = [s for s in steps if s >= raw] [-1:] + [s for s in steps if s < raw]  # the round step >= raw, then finer
    ticks = []
    for step in steps:  # a finer step while the data's range holds too few ticks of this one
        if integer:
            step = max(1.0, float(math.ceil(step)))
        first = math.ceil(lo / step - 1e-9)
        ticks = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
        if len(ticks) >= max(2, n - 2):
            break
    return ticks, format_ticks(ticks, integer=integer)


def set_round_ticks(plt: Any, xs: Sequence[float], ys: Sequence[float], n: int = 5) -> None:
    """Give a plotext figure (``plt``: the module or a ``PlotextPlot``'s ``plt``) round ticks
    labelled by the rule on both axes, in place of plotext's own (``24318.0348``)."""
    for values, set_ticks in ((xs, plt.xticks), (ys, plt.yticks)):
        if len(values):
            ticks, labels = axis_ticks(min(values), max(values), n=n)
            if ticks:
                set_ticks(ticks, labels)
