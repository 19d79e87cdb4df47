"""``rcx analyze combine`` and ``--join``: rank averages chosen on one part, reported on the other."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from rcx.analysis.combine import combine_report, rank_average
from rcx.analysis.common import AnalysisError, join_results, load_table
from rcx.analysis.proxies import proxies_report
from rcx.cli import main
from rcx.core.results import ResultsTable
from tests.analysis_store import hand_store


def _table(n: int = 400, seed: int = 0) -> ResultsTable:
    """Truth t; ``a`` and ``b`` are t plus independent noise (so their average ranks better than
    either), ``c`` is noise, ``d`` is t's negative plus noise and declared lower-is-better;
    params is a weaker copy of t."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    cols = {"e.a": t + rng.normal(size=n), "e.b": t + rng.normal(size=n), "e.c": rng.normal(size=n),
            "f.d": -t + 1.5 * rng.normal(size=n), "params": t + 2.0 * rng.normal(size=n), "truth.v": t}
    rows = [{"arch": f"x{i}", **{k: float(v[i]) for k, v in cols.items()}, "features": i, "e.status": "done",
             "f.status": "done"} for i in range(n)]
    higher = {"e.a": True, "e.b": True, "e.c": True, "f.d": False, "truth.v": True}
    return ResultsTable(["arch", *cols, "features", "e.status", "f.status"], rows, higher, ["e", "f"], {})


def test_rank_average_is_the_mean_of_tie_averaged_ranks():
    x = np.array([[3.0, 10.0], [1.0, 10.0], [2.0, 30.0]])
    assert rank_average(x) == pytest.approx([(3 + 1.5) / 2, (1 + 1.5) / 2, (2 + 3) / 2])


def test_the_split_is_disjoint_seeded_and_the_choice_never_sees_the_report_part():
    table = _table()
    r = combine_report(table, "truth.v", metrics=["e.a", "e.b", "e.c", "f.d", "params"], boot=50, runs=20, n_arch=20)
    assert r.n_selection + r.n_report == r.n_common == 400
    assert not set(r.selection_index) & set(r.report_index)
    again = combine_report(table, "truth.v", metrics=["e.a", "e.b", "e.c", "f.d", "params"], boot=50, runs=20,
                           n_arch=20)
    assert np.array_equal(again.report_index, r.report_index) and again.chosen == r.chosen
    other = combine_report(table, "truth.v", metrics=["e.a", "e.b"], seed=1, boot=0, runs=20, n_arch=20)
    assert not np.array_equal(other.report_index, r.report_index)

    sel = r.selection_index
    t = np.array([row["truth.v"] for row in table.rows])
    col = {m: np.array([row[m] for row in table.rows]) for m in ("e.a", "e.b", "f.d")}
    best_members, best_rho = r.selection[0]
    oriented = np.stack([(-1 if m == "f.d" else 1) * col[m][sel] for m in best_members], axis=1)
    assert best_rho == pytest.approx(stats.spearmanr(rank_average(oriented), t[sel]).statistic)
    assert "e.c" not in r.chosen and len(r.chosen) >= 2, "noise never helps on 200 architectures"

    rows = {row.metric: row for row in r.report.rows}
    rep = r.report_index
    assert rows["e.a"].n == len(rep)
    assert rows["e.a"].spearman == pytest.approx(stats.spearmanr(col["e.a"][rep], t[rep]).statistic)
    assert rows["f.d"].spearman == pytest.approx(-stats.spearmanr(col["f.d"][rep], t[rep]).statistic)
    name = f"rank-avg({' + '.join(r.chosen)})"
    chosen_on_report = np.stack([(-1 if m == "f.d" else 1) * col[m][rep] for m in r.chosen], axis=1)
    assert rows[name].spearman == pytest.approx(stats.spearmanr(rank_average(chosen_on_report), t[rep]).statistic)
    assert rows[name].spearman > max(rows["e.a"].spearman, rows["e.b"].spearman)
    assert "rank-avg(all 4 scores)" in rows, "the fixed all-scores average is reported too"


def test_the_difference_from_params_is_paired_and_absent_for_params_itself():
    table = _table(n=300, seed=3)
    report = proxies_report(table, "truth.v", boot=200, runs=20, n_arch=20)
    rows = {r.metric: r for r in report.rows}
    t = np.array([row["truth.v"] for row in table.rows])
    p = np.array([row["params"] for row in table.rows])
    a = rows["e.a"]
    assert a.vs_params == pytest.approx(a.spearman - stats.spearmanr(p, t).statistic)
    assert a.vs_params_lo < a.vs_params < a.vs_params_hi
    assert a.vs_params_lo > 0, "a is t + N(0,1), params t + N(0,4): clearly better than params"
    assert rows["e.c"].vs_params_hi < 0
    assert np.isnan(rows["params"].vs_params)


def test_bad_requests_are_analysis_errors():
    table = _table(n=100)
    with pytest.raises(AnalysisError, match="--holdout"):
        combine_report(table, "truth.v", holdout=1.0)
    with pytest.raises(AnalysisError, match="--max-size"):
        combine_report(table, "truth.v", max_size=1)
    with pytest.raises(AnalysisError, match="not a metric with a declared direction"):
        combine_report(table, "truth.v", metrics=["e.a", "features"])


def _stores(tmp_path, n: int = 60):
    rng = np.random.default_rng(5)
    t = rng.normal(size=n)
    noisy = t + rng.normal(size=n)
    first = hand_store(tmp_path / "a.db", [{"arch": f"c{i}", "proxy": float(noisy[i]), "truth": float(t[i]),
                                            "params": int(1000 + 100 * t[i] + 300 * rng.normal())} for i in range(n)])
    second = hand_store(tmp_path / "b.db", [{"arch": f"c{i}", "other": float(t[i] + rng.normal())} for i in range(n)]
                        + [{"arch": "only-here", "other": 1.0}], evaluators={"other": "ridge_rfm"})
    return first, second


def test_join_adds_the_other_files_evaluators_by_architecture(tmp_path):
    first, second = _stores(tmp_path)
    table, _ = load_table(first)
    joined = join_results(table, second)
    assert joined.evaluators == ["proxy", "truth", "other"]
    assert joined.higher_is_better["other.val_acc"] is True
    assert len(joined.rows) == len(table.rows), "rows are the first file's"
    assert all(r["other.status"] == "done" and r["other.val_acc"] is not None for r in joined.rows)
    with pytest.raises(AnalysisError, match="evaluator 'proxy' is also in the first"):
        join_results(table, first)
    stranger = hand_store(tmp_path / "s.db", [{"arch": "zz", "other": 1.0}], evaluators={"other": "ridge_rfm"})
    with pytest.raises(AnalysisError, match="none of its 1 architecture ids"):
        join_results(table, stranger)


def test_the_command_joins_files_and_writes_json(tmp_path, capsys):
    first, second = _stores(tmp_path)
    argv = ["analyze", "combine", str(first), "--join", str(second), "--truth", "truth.val_acc", "--n-arch", "10",
            "--runs", "20", "--boot", "50", "--format", "json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["common"] == 60 and doc["meta"]["joined"] == [str(second)]
    assert {"proxy.val_acc", "other.val_acc", "params"} <= {r["metric"] for r in doc["rows"]}
    assert any(r["metric"].startswith("rank-avg(") for r in doc["rows"])
    assert main(["analyze", "proxies", str(first), "--join", str(second), "--truth", "truth.val_acc", "--n-arch", "10",
                 "--runs", "20", "--boot", "20"]) == 0
    assert "other.val_acc" in capsys.readouterr().out
    assert main(["analyze", "combine", str(first), "--truth", "truth.val_acc", "--holdout", "0"]) == 2
    assert "--holdout" in capsys.readouterr().err
