"""``rcx analyze select``: perfect and reversed scores, baselines, exclusions, seeding, CLI."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from rcx.analysis.common import load_table
from rcx.analysis.select import draw_subsets, selection_report, selection_rows, simulate
from rcx.cli import main

from .analysis_store import hand_store

N = 40
TRUTH = np.round(np.linspace(0.30, 0.90, N), 4)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """40 usable architectures whose proxy equals the truth, plus degenerate and incomplete rows
    that would win the selection if they were not excluded."""
    rows = [{"arch": f"a{i:02d}", "proxy": float(t), "truth": float(t)} for i, t in enumerate(TRUTH)]
    rows += [{"arch": f"deg{i}", "proxy": ("degenerate", 5.0), "truth": 0.10} for i in range(5)]
    # inf: stored as null
    rows += [{"arch": "nan", "proxy": float("inf"), "truth": 0.10}, {"arch": "notruth", "proxy": 9.0}]
    return hand_store(tmp_path_factory.mktemp("select") / "hand.db", rows)


def test_subsets_are_distinct_in_range_and_uniform():
    idx = draw_subsets(20, 5, 4000, np.random.default_rng(0))
    assert idx.shape == (4000, 5) and idx.min() >= 0 and idx.max() < 20
    assert all(len(set(row)) == 5 for row in idx[:200])
    counts = np.bincount(idx.ravel(), minlength=20)
    assert counts.min() > 0.9 * 1000 and counts.max() < 1.1 * 1000  # each index in 1/4 of the draws
    first = np.bincount(idx[:, 0], minlength=20)
    assert first.min() > 0.7 * 200 and first.max() < 1.3 * 200  # the draw order is random too
    assert draw_subsets(7, 7, 3, np.random.default_rng(1)).shape == (3, 7)


def test_perfect_score_is_optimal_and_reversed_score_is_worst():
    rng = np.random.default_rng(5)
    truth = rng.random(200)
    perfect = simulate(truth, truth, 25, 500, np.random.default_rng(0), higher_is_better=True)
    assert np.array_equal(perfect.picked, perfect.best)
    reverse = simulate(-truth, truth, 25, 500, np.random.default_rng(0), higher_is_better=True)
    assert np.array_equal(reverse.picked, reverse.worst)
    lower = simulate(-truth, truth, 25, 500, np.random.default_rng(0), higher_is_better=False)
    assert np.array_equal(lower.picked, perfect.best), "same draws, direction respected"
    rows = selection_rows(truth, truth, [10, 25], 300, 1, True, label="s")
    opt = {r.n_arch: r for r in rows if r.method == "optimal"}
    for r in (r for r in rows if r.method == "s"):
        assert (r.mean, r.std, r.optimal_rate) == (opt[r.n_arch].mean, opt[r.n_arch].std, 1.0)
    rnd = next(r for r in rows if r.method == "random")
    assert (rnd.mean, rnd.std) == (pytest.approx(truth.mean()), pytest.approx(truth.std()))


def test_seeded_and_independent_of_other_sizes():
    rng = np.random.default_rng(2)
    truth, score = rng.random(300), rng.random(300)
    a = selection_rows(score, truth, [10, 100], 200, 7, True)
    b = selection_rows(score, truth, [100], 200, 7, True)
    c = selection_rows(score, truth, [10, 100], 200, 8, True)
    assert a == selection_rows(score, truth, [10, 100], 200, 7, True)
    assert [r for r in a if r.n_arch == 100] == [r for r in b if r.n_arch == 100]
    assert a != c
    score_rows = [r for r in a if r.method == "score"]
    assert score_rows[0].mean < next(r.mean for r in a if r.method == "optimal" and r.n_arch == 10)


def test_report_excludes_degenerate_and_incomplete_rows(db):
    table, _ = load_table(db)
    rep = selection_report(table, "proxy.val_acc", "truth.val_acc", [5, 40], runs=100)
    assert (rep.n_rows, rep.n_usable, rep.higher_is_better) == (47, 40, True)
    assert rep.excluded == {"proxy.status degenerate": 5, "proxy.val_acc missing": 1, "truth.val_acc missing": 1}
    full = next(r for r in rep.rows if r.method == "proxy.val_acc" and r.n_arch == 40)
    assert (full.mean, full.std, full.optimal_rate) == (pytest.approx(0.90), pytest.approx(0.0, abs=1e-12), 1.0)
    worst = selection_report(table, "proxy.val_acc", "truth.val_acc", [40], runs=10, higher_is_better=False)
    assert next(r for r in worst.rows if r.method == "proxy.val_acc").mean == pytest.approx(0.30)


def test_cli_table_csv_json(db, capsys):
    args = ["analyze", "select", str(db), "--score", "proxy.val_acc", "--truth", "truth.val_acc", "--n-arch", "10,25",
            "--runs", "500", "--seed", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "selection by proxy.val_acc (higher is better)" in out and "40 of 47" in out and "optimal" in out
    assert "excluded 7: proxy.status degenerate 5" in out
    assert main([*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["method"], r["n_arch"]) for r in rows] == [("optimal", "10"), ("optimal", "25"), ("random", ""),
                                                          ("proxy.val_acc", "10"), ("proxy.val_acc", "25")]
    assert rows[3]["mean"] == rows[0]["mean"] and float(rows[3]["optimal_rate"]) == 1.0
    assert main([*args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["usable"] == 40 and doc["meta"]["seed"] == 3 and doc["meta"]["score_higher_is_better"]
    assert doc["rows"][2]["method"] == "random" and doc["rows"][2]["n_arch"] is None
    assert doc["rows"][2]["mean"] == pytest.approx(TRUTH.mean())
    assert doc["rows"][3]["p_vs_random"] < 1e-6


def test_params_is_a_baseline_with_a_declared_direction(db, capsys):
    """params ranks with higher is better (rcx.core.scores.ARCH_BASELINES): no flag needed."""
    table, _ = load_table(db)
    rep = selection_report(table, "params", "truth.val_acc", [46], runs=5)
    assert rep.higher_is_better is True
    picked = next(r for r in rep.rows if r.method == "params")
    best = max((r for r in table.rows if r["truth.val_acc"] is not None), key=lambda r: r["params"])
    assert picked.mean == pytest.approx(best["truth.val_acc"])
    assert main(["analyze", "select", str(db), "--score", "params", "--truth", "truth.val_acc", "--n-arch", "5"]) == 0
    assert "selection by params (higher is better)" in capsys.readouterr().out


def test_a_rank_average_is_a_score(db, capsys):
    """--score a,b: the rank average of the columns (lower is better) selects."""
    assert main(["analyze", "select", str(db), "--score", "proxy.val_acc,flops", "--truth", "truth.val_acc",
                 "--n-arch", "5", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["score"] == "rankavg(proxy.val_acc,flops)" and doc["meta"]["score_higher_is_better"] is False


def test_truth_from_csv_and_direction_override(db, tmp_path, capsys):
    truth_csv = tmp_path / "nb.csv"
    truth_csv.write_text("arch,accuracy\n" + "".join(f"a{i:02d},{100 * (1 - t):.2f}\n" for i, t in enumerate(TRUTH)))
    args = ["analyze", "select", str(db), "--score", "proxy.val_acc", "--truth-csv", str(truth_csv), "--n-arch", "40",
            "--runs", "5", "--format", "json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["truth"] == "accuracy"
    assert doc["rows"][-1]["mean"] == pytest.approx(10.0)  # the proxy picks the worst by this truth
    assert main([*args, "--lower-is-better"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][-1]["mean"] == pytest.approx(70.0)


@pytest.mark.parametrize("extra, message", [
    (["--score", "nonsense", "--truth", "truth.val_acc"], "no column 'nonsense'"),
    (["--score", "proxy.val_acc", "--truth", "truth.val_acc", "--n-arch", "41"],
     "N_a = 41 is larger than the 40 usable architectures"),
    (["--score", "proxy.val_acc", "--truth", "truth.val_acc", "--n-arch", "10,x"], "comma-separated integers"),
    (["--score", "proxy.val_acc", "--truth", "truth.val_acc", "--n-arch", "0"], ">= 1"),
    (["--score", "proxy.val_acc", "--truth", "truth.val_acc", "--runs", "0"], "--runs must be >= 1"),
    (["--score", "proxy.val_acc"], "--truth COLUMN or --truth-csv FILE"),
    (["--score", "depth", "--truth", "truth.val_acc"], "pass --higher-is-better or --lower-is-better"),
    (["--score", "proxy.val_acc", "--truth", "proxy.val_acc"], "same column"),
    (["--score", "proxy.val_acc", "--truth-csv", "/nonexistent/nb.csv"], "cannot read"),
])
def test_bad_input_exits_2(db, capsys, extra, message):
    assert main(["analyze", "select", str(db), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
