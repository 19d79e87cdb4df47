"""``rcx analyze corr``: exact coefficients, exclusions, --by/--bins groups, output formats, bad input."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from scipy import stats

from rcx.analysis.common import load_table
from rcx.analysis.corr import bin_index, corr_report, correlate
from rcx.cli import main

from .analysis_store import hand_store

# depth 3: truth rises with proxy (exactly monotone, not linear); depth 5: truth falls with proxy.
PROXY = [0.10, 0.20, 0.30, 0.40, 0.50, 0.15, 0.25, 0.35, 0.45]
TRUTH = [0.50, 0.52, 0.60, 0.80, 0.81, 0.70, 0.66, 0.61, 0.40]
DEPTH = [3, 3, 3, 3, 3, 5, 5, 5, 5]
FEATURES = [10, 20, 30, 40, 50, 10, 20, 60, 100]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    rows = [{"arch": f"a{i}", "depth": d, "features": f, "params": 1000 - 10 * i, "proxy": p, "truth": t}
            for i, (p, t, d, f) in enumerate(zip(PROXY, TRUTH, DEPTH, FEATURES))]
    rows += [
        {"arch": "scr", "depth": 3, "proxy": ("screened", 0.99), "truth": 0.99},  # status not done: excluded
        {"arch": "nan", "depth": 3, "proxy": float("nan"), "truth": 0.1},  # NaN, stored as null: excluded
        {"arch": "untrained", "depth": 5, "proxy": 0.3},  # no truth evaluation: excluded
        {"arch": "failed", "depth": 5, "proxy": 0.3, "truth": ("failed", None)},
    ]
    return hand_store(tmp_path_factory.mktemp("corr") / "hand.db", rows)


def test_correlate_matches_scipy_and_monotone_gives_rank_one():
    x = np.linspace(0.1, 2.0, 12)
    y = np.exp(3 * x)  # monotone, far from linear
    c = correlate(x, y)
    assert c.n == 12 and c.spearman == pytest.approx(1.0) and c.kendall == pytest.approx(1.0)
    assert c.pearson == pytest.approx(stats.pearsonr(x, y).statistic) and c.pearson < 0.95
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=30), rng.normal(size=30)
    c = correlate(a, b)
    assert (c.pearson, c.pearson_p) == pytest.approx(tuple(stats.pearsonr(a, b)))
    assert (c.spearman, c.spearman_p) == pytest.approx(tuple(stats.spearmanr(a, b)))
    assert (c.kendall, c.kendall_p) == pytest.approx(tuple(stats.kendalltau(a, b)))


@pytest.mark.parametrize("x, y, note", [
    ([], [], "n < 3"), ([0.1], [0.2], "n < 3"), ([0.1, 0.2], [0.3, 0.1], "n < 3"),
    ([0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4], "constant x"), ([1.0, 2.0, 3.0], [7.0, 7.0, 7.0], "constant y"),
])
def test_small_or_constant_samples_give_nan_not_errors(x, y, note):
    c = correlate(np.array(x), np.array(y))
    assert c.n == len(x) and c.note == note
    assert all(math.isnan(v) for v in (c.pearson, c.pearson_p, c.spearman, c.spearman_p, c.kendall, c.kendall_p))


def test_bins_are_evenly_spaced_and_right_closed():
    idx, edges = bin_index(np.array([0.0, 2.5, 5.0, 5.01, 10.0]), 2)
    assert edges.tolist() == [0.0, 5.0, 10.0]
    assert idx.tolist() == [0, 0, 0, 1, 1]  # the minimum in the first bin, 5.0 closes it
    idx, _ = bin_index(np.array([3.0, 3.0]), 4)
    assert idx.tolist() == [0, 0]


def test_report_excludes_unusable_rows_and_splits_by_depth(db):
    table, _ = load_table(db)
    rep = corr_report(table, "proxy.val_acc", "truth.val_acc", by="depth")
    assert (rep.n_rows, rep.n_usable) == (13, 9)
    assert rep.excluded == {"proxy.status screened": 1, "proxy.val_acc missing": 1, "truth.status missing": 1,
                            "truth.status failed": 1}
    assert [g.label for g in rep.groups] == ["all", "depth=3", "depth=5"]
    d3, d5 = rep.groups[1], rep.groups[2]
    assert d3.arch == ["a0", "a1", "a2", "a3", "a4"] and d3.by_value == 3
    assert d3.pairs[0].corr.spearman == pytest.approx(1.0) and d3.pairs[0].corr.kendall == pytest.approx(1.0)
    assert d5.pairs[0].corr.spearman == pytest.approx(-1.0)
    assert d3.pairs[0].corr.pearson == pytest.approx(stats.pearsonr(PROXY[:5], TRUTH[:5]).statistic)
    assert rep.groups[0].pairs[0].corr.pearson == pytest.approx(stats.pearsonr(PROXY, TRUTH).statistic)
    # trivial baselines over the same architectures: params falls with the row index
    assert [(p.x, p.y) for p in d3.pairs[1:]] == [("proxy.val_acc", "params"), ("truth.val_acc", "params"),
                                                  ("proxy.val_acc", "flops"), ("truth.val_acc", "flops")]
    assert d3.pairs[1].corr.spearman == pytest.approx(-1.0) and d3.pairs[3].corr.spearman == pytest.approx(1.0)


def test_bins_within_each_depth(db):
    table, _ = load_table(db)
    rep = corr_report(table, "proxy.val_acc", "truth.val_acc", by="depth", bins=("features", 2), baselines=())
    labels = [g.label for g in rep.groups]
    assert labels == ["all", "depth=3", "depth=3 features [10, 30]", "depth=3 features (30, 50]",
                      "depth=5", "depth=5 features [10, 55]", "depth=5 features (55, 100]"]
    by_label = {g.label: g for g in rep.groups}
    assert by_label["depth=3 features [10, 30]"].arch == ["a0", "a1", "a2"]
    assert by_label["depth=3 features [10, 30]"].bin_range == (10.0, 30.0)
    assert by_label["depth=5 features (55, 100]"].arch == ["a7", "a8"]
    assert by_label["depth=5 features (55, 100]"].pairs[0].corr.note == "n < 3"
    assert all(len(g.pairs) == 1 for g in rep.groups)
    flat = corr_report(table, "proxy.val_acc", "truth.val_acc", bins=("features", 2))
    assert [g.label for g in flat.groups] == ["all", "features [10, 55]", "features (55, 100]"]


def test_cli_formats(db, capsys):
    assert main(["analyze", "corr", str(db), "--x", "proxy.val_acc", "--y", "truth.val_acc", "--by", "depth",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["usable"] == 9 and doc["meta"]["x"] == "proxy.val_acc"
    first = doc["rows"][0]
    assert (first["group"], first["n"]) == ("all", 9)
    assert first["pearson"] == pytest.approx(stats.pearsonr(PROXY, TRUTH).statistic)
    assert main(["analyze", "corr", str(db), "--x", "proxy.val_acc", "--y", "truth.val_acc", "--bins", "features:2",
                 "--format", "csv"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == 3 * 5 and rows[0]["group"] == "all"
    assert "excluded 4" in captured.err
    assert main(["analyze", "corr", str(db), "--x", "proxy.val_acc", "--y", "truth.val_acc", "--by", "depth",
                 "--plot"]) == 0
    out = capsys.readouterr().out
    assert "depth=5" in out and "-1.000 " in out and "trivial baselines" in out
    assert "\x1b[" not in out and "┤" in out and "truth.val_acc vs proxy.val_acc: n=9" in out  # the scatter, piped


@pytest.mark.parametrize("args, message", [
    (["--x", "nonsense", "--y", "truth.val_acc"], "no column 'nonsense'"),
    (["--x", "val_acc", "--y", "truth.val_acc"], "ambiguous"),
    (["--x", "arch", "--y", "truth.val_acc"], "not numeric"),
    (["--x", "proxy.val_acc", "--y", "truth.val_acc", "--bins", "features"], "COLUMN:N"),
    (["--x", "proxy.val_acc", "--y", "truth.val_acc", "--bins", "features:0"], ">= 1"),
    (["--x", "proxy.val_acc", "--y", "truth.val_acc", "--by", "colour"], "no column 'colour'"),
    (["--x", "proxy.val_acc", "--y", "truth.val_acc", "--run", "7"], "no run 7"),
])
def test_bad_input_exits_2(db, capsys, args, message):
    assert main(["analyze", "corr", str(db), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_database_exits_2(tmp_path, capsys):
    assert main(["analyze", "corr", str(tmp_path / "none.db"), "--x", "a", "--y", "b"]) == 2
    assert "no such results file" in capsys.readouterr().err
