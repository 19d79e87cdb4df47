"""The one number format (issue 23): rcx.numfmt's rule, its ticks and bounds, and its users."""

from __future__ import annotations

import io
import math
import re

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from rcx.numfmt import DIGITS, LARGE, SMALL, axis_ticks, format_bounds, format_number, format_ticks
from rcx.termtable import format_value, print_table

FIXED = (st.floats(min_value=SMALL, max_value=LARGE, exclude_max=True)
         | st.floats(min_value=-LARGE, max_value=-SMALL, exclude_min=True))


def _value(label: str) -> float:
    return float(label.replace(",", ""))


def _significant(label: str) -> int:
    """Significant digits written in a fixed-point label (leading zeros do not count)."""
    return len(label.lstrip("+-").replace(",", "").replace(".", "").lstrip("0"))


def test_the_issue_examples():
    """One column no longer mixes 188.6038 and 5,438; ticks no longer read 24,318.0348 or
    117,882,880.0000; 0.976 and 0.9764 read at one precision."""
    assert [format_number(v) for v in (188.6038, 5438, 5438.0, 24318.0348, 117882880.0, 0.976, 0.9764)] == \
        ["188.6", "5,438", "5,438", "24,318", "117,882,880", "0.9760", "0.9764"]
    assert [format_number(v) for v in (0.0, 0.0123, 1e-5, 2.5e17, -0.5)] == \
        ["0", "0.01230", "1.000e-05", "2.500e+17", "-0.5000"]
    assert [format_number(v) for v in (float("nan"), float("inf"), -float("inf"), True)] == \
        ["nan", "inf", "-inf", "true"]
    assert format_number(999.96) == "1,000" and format_number(9.99996) == "10.00"  # the rounding carries
    assert format_number(0.5, sign=True) == "+0.5000" and format_number(-3, sign=True) == "-3"
    assert format_number(np.int64(12345)) == "12,345" and format_number(np.float32(0.25)) == "0.2500"
    assert format_number(0.0012345, digits=2) == "0.0012"


@given(st.integers(min_value=-10**18, max_value=10**18))
def test_integers_are_whole_with_separators(n):
    label = format_number(n)
    assert int(label.replace(",", "")) == n
    assert re.fullmatch(r"-?\d{1,3}(,\d{3})*", label), label


@given(FIXED, st.integers(min_value=1, max_value=6))
@example(188.6038, 4)
@example(24318.0348, 4)
@example(999.96, 4)
def test_floats_keep_their_significant_digits(v, digits):
    """Fixed point with ``digits`` significant digits (all integer digits from 10**(digits-1)
    up), rounded to the nearest such value."""
    label = format_number(v, digits)
    assert "e" not in label
    assert _significant(label) == max(digits, len(str(int(abs(_value(label)))))), label
    decimals = len(label.partition(".")[2])
    assert abs(_value(label) - v) <= 0.5 * 10.0 ** -decimals * (1 + 1e-9)
    if decimals:
        assert _significant(label) == digits  # never more digits than asked for after the point


@given(st.floats(min_value=-1e300, max_value=1e300).filter(lambda v: v != 0 and not SMALL <= abs(v) < LARGE))
def test_outside_the_fixed_range_floats_take_exponent_form(v):
    label = format_number(v)
    mantissa, e, exponent = label.partition("e")
    assert e and len(mantissa.lstrip("-").replace(".", "")) == DIGITS
    assert math.isclose(float(label), v, rel_tol=10.0 ** (1 - DIGITS))


@given(FIXED, FIXED)
def test_the_format_keeps_the_order(a, b):
    a, b = sorted((a, b))
    assert _value(format_number(a)) <= _value(format_number(b))


def test_ticks_read_exactly_and_share_their_decimals():
    assert format_ticks([0.25, 0.3, 0.35]) == ["0.25", "0.30", "0.35"]
    assert format_ticks([0.8, 1.0, 1.2]) == ["0.8", "1.0", "1.2"]
    assert format_ticks([0.0, 0.2, 0.4]) == ["0", "0.2", "0.4"]
    assert format_ticks([20_000.0, 40_000.0]) == ["20,000", "40,000"]
    assert format_ticks([1e8, 1.2e8]) == ["100,000,000", "120,000,000"]
    assert format_ticks([0.0, 2.0, 4.0], integer=True) == ["0", "2", "4"]
    assert format_ticks([10.0, 55.0, 100.0], max_digits=DIGITS) == ["10", "55", "100"]


@given(st.floats(min_value=-1e9, max_value=1e9), st.floats(min_value=1e-3, max_value=1e9), st.integers(2, 8))
def test_axis_ticks_are_round_inside_the_data_and_labelled_exactly(lo, span, n):
    hi = lo + span
    ticks, labels = axis_ticks(lo, hi, n=n)
    assert ticks and len(ticks) == len(labels)
    assert all(lo - 1e-9 * span <= t <= hi + 1e-9 * span for t in ticks)
    assert all(math.isclose(_value(label), t, rel_tol=1e-6, abs_tol=1e-9 * span) for label, t in zip(labels, ticks))
    decimals = {len(label.partition(".")[2]) for label in labels if label != "0"}  # zero is 0 on any axis
    assert len(decimals) <= 1  # one axis, one count of decimals


def test_log_ticks_are_labelled_each_on_its_own():
    assert axis_ticks(2876.0, 50459.0, log=True)[1] == ["5,000", "10,000", "20,000", "50,000"]
    assert axis_ticks(0.0009, 0.2, log=True)[1] == ["0.001", "0.01", "0.1"]


@given(st.lists(st.floats(min_value=1e-3, max_value=1e6), min_size=2, max_size=6))
def test_bounds_keep_distinct_values_distinct(values):
    values = sorted(values)
    labels = format_bounds(values)
    for (a, b), (la, lb) in zip(zip(values, values[1:]), zip(labels, labels[1:])):
        assert la != lb or a == b or math.isclose(a, b, rel_tol=1e-7)


def test_the_cli_table_uses_the_rule():
    rows = [{"arch": "a", "throughput": 188.6038, "params": 5438, "val_acc": 0.976},
            {"arch": "b", "throughput": 24318.0348, "params": 117882880, "val_acc": 0.9764}]
    stream = io.StringIO()
    print_table(["arch", "throughput", "params", "val_acc"], rows, stream=stream)
    out = stream.getvalue()
    for r in rows:
        for c in ("throughput", "params", "val_acc"):
            assert format_value(r[c]) in out
    assert "188.6 " in out and "24,318 " in out and "0.9760" in out and "188.6038" not in out


def test_an_analysis_table_reads_at_one_precision():
    """``rcx analyze proxies``' table: coefficients, intervals, differences and means all by the
    rule (it printed 0.976 [0.950, 0.990] beside 0.9764)."""
    from rcx.analysis.proxies import ProxiesReport, ProxyRow, table_rows

    row = ProxyRow("zc.score", "proxy", True, 1000, spearman=0.976, spearman_lo=0.95, spearman_hi=0.99,
                   kendall=0.8123, kendall_lo=0.8, kendall_hi=0.83, partial_spearman=0.9764, top_precision=0.5,
                   select_mean=93.41, select_std=0.25, vs_params=0.1, vs_params_lo=-0.02, vs_params_hi=0.2)
    report = ProxiesReport("truth.acc", True, 1000, 1000, {}, 100, 0, 0.1, 10, 50, rows=[row])
    _, rows = table_rows(report)
    cells = rows[0]
    assert cells["spearman [95% CI]"] == "0.9760 [0.9500, 0.9900]"
    assert cells["partial|params"] == "0.9764" and cells["top-10% prec"] == "0.5000"
    assert cells["vs params [95% CI]"] == "+0.1000 [-0.02000, +0.2000]"
    assert cells["select@10"] == "93.41 ± 0.2500"
    numbers = re.findall(r"[-+]?\d[\d,]*\.\d+", " ".join(str(v) for k, v in cells.items() if k != "n"))
    assert numbers and all(_significant(n) == DIGITS for n in numbers), numbers


def test_a_count_metric_reads_as_a_count():
    """``epochs`` (unit count, fractional under a step budget) read ``1.000``; the general rule
    for other floats is unchanged."""
    from rcx.numfmt import format_count

    assert [format_count(v) for v in (1.0, 2.5, 3, 1200.0, 2.3333333, 0.25)] == ["1", "2.5", "3", "1,200", "2.333",
                                                                                  "0.25"]
    assert format_value(1.0, "count") == "1" and format_value(1.0) == "1.000" and format_value(1.0, "s") == "1.000"
    out = io.StringIO()
    print_table(["t.epochs", "t.acc"], [{"t.epochs": 2.0, "t.acc": 0.5}], stream=out, units={"t.epochs": "count"})
    assert " 2 " in out.getvalue() and "0.5000" in out.getvalue(), out.getvalue()
