"""``rcx analyze proxies``: each statistic on its own, then a real nb201 run against the shipped truth."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from scipy import stats

from rcx.analysis.common import AnalysisError, ColumnValues
from rcx.analysis.proxies import (
    bootstrap_kendall,
    bootstrap_spearman,
    candidate_metrics,
    partial_spearman,
    percentile_interval,
    proxies_report,
    proxy_row,
    resample_indices,
    top_k,
    top_precision,
)
from rcx.cli import main
from rcx.plugins import truth_values
from rcx.truth.nb201 import NB201Truth


# -- bootstrap ----------------------------------------------------------------------------------
def test_vectorised_bootstrap_spearman_equals_scipy_on_each_resample():
    rng = np.random.default_rng(3)
    x = np.round(rng.random(40) * 6)  # heavy ties in both
    y = np.round(x + rng.random(40) * 4)
    idx = resample_indices(40, 60, rng)
    got = bootstrap_spearman(x, y, idx)
    want = np.array([stats.spearmanr(x[r], y[r]).statistic for r in idx])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    const = bootstrap_spearman(np.ones(5), np.arange(5.0), resample_indices(5, 4, rng))
    assert np.isnan(const).all(), "a constant resample has no rank correlation"


def test_both_kendall_paths_equal_scipy_on_each_resample(monkeypatch):
    from rcx.analysis import proxies

    rng = np.random.default_rng(4)
    x = np.round(rng.random(30) * 4)
    y = np.round(x + rng.random(30) * 3)
    idx = np.vstack([resample_indices(30, 40, rng), np.full((1, 30), 7)])  # the last resample is one point 30 times
    want = np.array([stats.kendalltau(x[r], y[r]).statistic for r in idx])
    dense = bootstrap_kendall(x, y, idx)
    monkeypatch.setattr(proxies, "DENSE_KENDALL_MAX_N", 10)
    looped = bootstrap_kendall(x, y, idx)
    np.testing.assert_allclose(dense, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(looped, want, rtol=0, atol=1e-12)
    assert np.isnan(dense[-1])


def test_percentile_interval_ignores_undefined_resamples():
    assert percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert percentile_interval(np.array([1.0, np.nan, 3.0])) == pytest.approx((1.05, 2.95))
    assert all(math.isnan(v) for v in percentile_interval(np.array([np.nan, np.nan, 1.0])))


def test_bootstrap_intervals_cover_the_known_correlation():
    """Bivariate normal with Pearson rho: Spearman's is (6/pi) asin(rho/2), Kendall's (2/pi) asin(rho).
    About 95 % of the seeded 95 % intervals must hold them (a too narrow or shifted interval fails)."""
    rho, n, reps, boot = 0.6, 60, 300, 300
    true_s, true_k = 6 / math.pi * math.asin(rho / 2), 2 / math.pi * math.asin(rho)
    rng = np.random.default_rng(2026)
    cover_s = cover_k = 0
    widths = []
    for _ in range(reps):
        x, y = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n).T
        idx = resample_indices(n, boot, rng)
        lo, hi = percentile_interval(bootstrap_spearman(x, y, idx))
        cover_s += lo <= true_s <= hi
        widths.append(hi - lo)
        lo, hi = percentile_interval(bootstrap_kendall(x, y, idx))
        cover_k += lo <= true_k <= hi
    assert 0.90 <= cover_s / reps <= 0.99 and 0.90 <= cover_k / reps <= 0.99, (cover_s, cover_k)
    assert 0.2 < np.mean(widths) < 0.6, "intervals of a plausible width for n = 60"


# -- partial correlation ------------------------------------------------------------------------
def test_partial_spearman_against_a_hand_computation():
    # ranks x 1 2 3 4, y 1 3 2 4, z 1 2 4 3: r_xy = 4/5, r_xz = 4/5, r_yz = 2/5, so
    # (0.8 - 0.8 * 0.4) / sqrt((1 - 0.64) (1 - 0.16)) = 0.48 / sqrt(0.3024) = 0.872872...
    x, y, z = np.array([10.0, 20, 30, 40]), np.array([1.0, 3, 2, 4]), np.array([100.0, 200, 400, 300])
    assert partial_spearman(x, y, z) == pytest.approx(0.48 / math.sqrt(0.3024), abs=1e-12)
    assert partial_spearman(x, y, np.log(z)) == partial_spearman(x, y, z), "log(params) ranks like params"
    assert math.isnan(partial_spearman(x, y, x)), "x is z: nothing left to correlate"


def test_partial_spearman_equals_the_correlation_of_rank_residuals():
    rng = np.random.default_rng(0)
    z = rng.random(200)
    x, y = z + rng.random(200), z + rng.random(200)
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, z))
    res = [r - np.polyval(np.polyfit(rz, r, 1), rz) for r in (rx, ry)]
    assert partial_spearman(x, y, z) == pytest.approx(np.corrcoef(*res)[0, 1], abs=1e-10)
    assert partial_spearman(x, y, z) < stats.spearmanr(x, y).statistic - 0.2, "size explained most of it"


# -- top-k precision ----------------------------------------------------------------------------
def test_top_k_sizes():
    assert [top_k(n, 0.1) for n in (1, 5, 10, 11, 30, 1000, 15_625)] == [1, 1, 1, 2, 3, 100, 1563]
    assert top_k(7, 1.0) == 7


def test_top_precision_edge_cases():
    truth = np.arange(20.0)
    assert top_precision(truth, truth) == 1.0
    assert top_precision(-truth, truth) == 0.0
    assert top_precision(np.ones(20), truth) == pytest.approx(2 / 20), "a constant score is chance: k/n"
    assert top_precision(np.array([5.0]), np.array([1.0])) == 1.0
    assert top_precision(-truth, truth, fraction=1.0) == 1.0, "the whole pool always catches everything"
    # ties at the boundary share the remaining places: score 3,2,2,1 (k = 2) catches 1 + 1/2 of truth's top 2
    assert top_precision(np.array([3.0, 2, 2, 1]), np.array([4.0, 3, 2, 1]), fraction=0.5) == 0.75
    assert top_precision(np.array([3.0, 2, 2, 1]), np.array([4.0, 3, 3, 1]), fraction=0.5) == pytest.approx(
        (1 * 1 + 0.5 * 0.5 + 0.5 * 0.5) / 2), "ties in the truth too"


# -- one row ------------------------------------------------------------------------------------
def _col(name, values):
    values = np.asarray(values, dtype=float)
    return ColumnValues(name, values, [None if math.isfinite(v) else f"{name} missing" for v in values])


def test_row_orients_lower_is_better_and_is_seeded():
    rng = np.random.default_rng(1)
    t = rng.random(300)
    truth = _col("t", t)
    good_low = _col("m.loss", -t + 0.3 * rng.random(300))
    kw = dict(boot=100, seed=4, n_arch=10, runs=50)
    row = proxy_row(good_low, "proxy", False, truth, True, None, **kw)
    assert row.spearman == pytest.approx(-stats.spearmanr(good_low.values, t).statistic)
    assert row.spearman > 0.9 and row.spearman_lo < row.spearman < row.spearman_hi
    assert row.kendall == pytest.approx(-stats.kendalltau(good_low.values, t).statistic)
    assert "negated" in row.note and row.n == 300
    assert row == proxy_row(good_low, "proxy", False, truth, True, None, **kw)
    assert row.spearman_lo != proxy_row(good_low, "proxy", False, truth, True, None, **{**kw, "seed": 5}).spearman_lo
    no_boot = proxy_row(good_low, "proxy", False, truth, True, None, **{**kw, "boot": 0})
    assert no_boot.spearman == row.spearman and math.isnan(no_boot.spearman_lo) and math.isnan(no_boot.kendall_hi)
    few = proxy_row(_col("m.x", [1, 2, np.nan, np.nan]), "proxy", True, _col("t", [1, 2, 3, 4]), True, None)
    assert few.n == 2 and few.note == "n < 3" and math.isnan(few.spearman)


# -- end to end: a real nb201 run against the shipped truth -------------------------------------
PLAN = """
name = "nb201-truth"
seed = 0
device = "cpu"
output = "{output}"
[dataset]
name = "synthetic"
n_train = 100
n_test = 10
image_size = 16
[space]
name = "nb201"
channels = 4
cells = 1
[sampler]
kind = "random"
n = 10
[evaluators.cvu]
n_init = 4
batch_size = 32
dtype = "float32"
"""


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb201run")
    plan = tmp / "plan.toml"
    plan.write_text(PLAN.format(output=tmp / "r.db"))
    assert main(["run", "--headless", "-q", "--top", "0", str(plan)]) == 0
    return tmp / "r.db"


def _json(capsys, *argv):
    assert main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_end_to_end_with_the_shipped_truth(run_db, capsys):
    results = _json(capsys, "results", str(run_db), "--truth", "nb201:cifar10", "--format", "json")
    truth = truth_values(NB201Truth)
    assert all(r["truth.nb201.cifar10"] == truth[r["arch"]]["cifar10"] for r in results)
    ok = [r for r in results if r["cvu.status"] == "done"]
    assert len(ok) >= 5, "enough non-degenerate cells to correlate"
    cv = np.array([r["cvu.cv_u"] for r in ok])
    acc = np.array([truth[r["arch"]]["cifar10"] for r in ok])
    params = np.array([r["params"] for r in ok], dtype=float)

    corr = _json(capsys, "analyze", "corr", str(run_db), "--x", "cvu.cv_u", "--truth", "nb201:cifar10",
                 "--format", "json")
    main_row = corr["rows"][0]
    assert (main_row["y"], main_row["n"]) == ("truth.nb201.cifar10", len(ok))
    assert main_row["spearman"] == pytest.approx(stats.spearmanr(cv, acc).statistic)
    assert main_row["kendall"] == pytest.approx(stats.kendalltau(cv, acc).statistic)
    assert main_row["pearson"] == pytest.approx(stats.pearsonr(cv, acc).statistic)

    sel = _json(capsys, "analyze", "select", str(run_db), "--score", "cvu.cv_u", "--truth", "nb201:cifar10",
                "--n-arch", "3", "--runs", "40", "--format", "json")
    picked = next(r for r in sel["rows"] if r["method"] == "cvu.cv_u")
    assert sel["rows"][1]["method"] == "random" and sel["rows"][1]["mean"] == pytest.approx(np.mean(
        [truth[r["arch"]]["cifar10"] for r in ok]))

    prox = _json(capsys, "analyze", "proxies", str(run_db), "--truth", "nb201:cifar10", "--n-arch", "3", "--runs", "40",
                 "--boot", "100", "--format", "json")
    rows = {r["metric"]: r for r in prox["rows"]}
    assert prox["meta"]["truth"] == "truth.nb201.cifar10" and prox["meta"]["truth_usable"] == len(results)
    cvu = rows["cvu.cv_u"]
    assert (cvu["kind"], cvu["higher_is_better"], cvu["n"]) == ("proxy", False, len(ok))
    assert cvu["spearman"] == pytest.approx(-stats.spearmanr(cv, acc).statistic), "negated: lower is better"
    assert cvu["kendall"] == pytest.approx(-stats.kendalltau(cv, acc).statistic)
    assert cvu["spearman_lo"] <= cvu["spearman"] <= cvu["spearman_hi"]
    assert cvu["top_precision"] == pytest.approx(top_precision(-cv, acc))
    assert cvu["partial_spearman"] == pytest.approx(partial_spearman(-cv, acc, np.log(params)))
    assert (cvu["select_mean"], cvu["select_std"]) == (pytest.approx(picked["mean"]), pytest.approx(picked["std"])), \
        "the same draws as rcx analyze select"
    all_params = np.array([r["params"] for r in results], dtype=float)
    all_acc = np.array([truth[r["arch"]]["cifar10"] for r in results])
    assert rows["params"]["kind"] == "baseline"
    assert rows["params"]["spearman"] == pytest.approx(stats.spearmanr(all_params, all_acc).statistic)
    spearmans = [r["spearman"] for r in prox["rows"] if r["spearman"] is not None]
    assert spearmans == sorted(spearmans, reverse=True)
    assert not any(m.startswith("truth.") for m in rows)
    assert "cvu.params" not in rows and "description" in prox["meta"]["left_out"]["cvu.params"], \
        "an evaluator's copy of the baseline is declared a description, not a proxy"
    assert "cvu.seconds" not in rows and "description" in prox["meta"]["left_out"]["cvu.seconds"]

    assert main(["analyze", "proxies", str(run_db), "--truth", "nb201:cifar10", "--n-arch", "3", "--runs", "40",
                 "--boot", "50", "--format", "csv"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["metric"] for r in parsed} == set(rows)
    assert main(["analyze", "proxies", str(run_db), "--truth", "nb201:cifar10", "--n-arch", "3", "--runs", "40",
                 "--boot", "50", "--plot"]) == 0
    out = capsys.readouterr().out
    assert "negated" in out and "spearman [95% CI]" in out and "params (baseline)" in out and "Spearman with" in out


@pytest.mark.parametrize("argv", [["analyze", "--help"], ["analyze", "proxies", "--help"]])
def test_help_texts_render(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0 and "top-10%" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--truth", "nb201:cifar1"], "no subset 'cifar1'"),
    (["--truth", "nb201:cifar10", "--top-fraction", "0"], "--top-fraction must be in (0, 1]"),
    (["--truth", "nb201:cifar10", "--metrics", "nosuch"], "no column 'nosuch'"),
    (["--truth", "nb201:cifar10", "--n-arch", "3,4"], "--n-arch: one number"),
])
def test_bad_requests_exit_2(run_db, capsys, argv, message):
    assert main(["analyze", "proxies", str(run_db), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_descriptions_are_left_out_and_scores_and_baselines_stay():
    """Metric roles: times, throughputs, counts and an evaluator's size copies are descriptions."""
    from rcx.core.results import ResultsTable
    from rcx.core.scores import ARCH_BASELINES

    rows = [{"arch": f"a{i}", "params": 10 + i, "flops": 100 + i, "n.status": "done", "n.score": float(i),
             "n.relu_units": 5.0 * i, "n.seconds": 0.1 * i, "r.status": "done", "r.val_acc": 0.1 * i,
             "r.throughput": 3.0 * i, "r.params": 10 + i, "truth.val_acc": float(i)} for i in range(8)]
    higher = {"n.score": True, "n.relu_units": False, "n.seconds": False, "r.val_acc": True, "r.throughput": True,
              "r.params": False, "truth.val_acc": True, **{c: True for c in ARCH_BASELINES}}
    roles = {"n.score": "score", "r.val_acc": "score", "n.relu_units": "description", "n.seconds": "description",
             "r.throughput": "description", "r.params": "description", "params": "baseline", "flops": "baseline"}
    table = ResultsTable(list(rows[0]), rows, higher, ["n", "r"], roles=roles)
    out, left_out = candidate_metrics(table, "truth.val_acc")
    assert out == [("n.score", "proxy", True), ("r.val_acc", "proxy", True), ("params", "baseline", True),
                   ("flops", "baseline", True)]
    assert set(left_out) == {"n.relu_units", "n.seconds", "r.throughput", "r.params"}
    assert all("description" in why for why in left_out.values())
    report = proxies_report(table, "truth.val_acc", boot=0, n_arch=3, runs=5, metrics=["rankavg(n.score,flops)"])
    assert [(r.metric, r.higher_is_better) for r in report.rows] == [("rankavg(n.score,flops)", False)]
    assert report.rows[0].spearman == pytest.approx(1.0)


def test_a_declared_score_recorded_nowhere_is_left_out():
    """A metric added to an evaluator after a results file was written (e.g. the training
    evaluators' tse) is declared but has no value in any row: no empty leaderboard row."""
    from rcx.core.results import ResultsTable

    rows = [{"arch": f"a{i}", "params": 10 + i, "t.status": "done", "t.val_acc": 0.1 * i, "t.tse": None,
             "truth.val_acc": float(i)} for i in range(8)]
    higher = {"t.val_acc": True, "t.tse": False, "truth.val_acc": True, "params": True}
    table = ResultsTable(list(rows[0]), rows, higher, ["t"], roles={"params": "baseline"})
    out, left_out = candidate_metrics(table, "truth.val_acc")
    assert [c[0] for c in out] == ["t.val_acc", "params"] and "no values" in left_out["t.tse"]
    rows[3]["t.tse"] = 1.5  # one value is enough to be a candidate (its row then says n < 3)
    assert "t.tse" in [c[0] for c in candidate_metrics(table, "truth.val_acc")[0]]


def test_report_needs_a_truth_with_values():
    from rcx.analysis.proxies import proxies_report
    from rcx.core.results import ResultsTable

    table = ResultsTable(["arch", "m.s", "t"], [{"arch": "a", "m.s": 1.0, "t": None}], {"m.s": True})
    with pytest.raises(AnalysisError, match="only 0 architectures have a usable t"):
        proxies_report(table, "t")


def test_partial_controls_for_the_named_size_column(tmp_path):
    """--partial features: the partial Spearman controls for log(features) instead of log(params)."""
    import numpy as np

    from rcx.analysis.common import AnalysisError, load_table
    from rcx.analysis.proxies import proxies_report
    from tests.analysis_store import hand_store

    rng = np.random.default_rng(3)
    n = 120
    features = rng.integers(10, 1000, size=n)
    truth = np.log(features) + 0.3 * rng.normal(size=n)
    rows = [{"arch": f"a{i}", "params": int(rng.integers(10, 1000)), "features": int(features[i]),
             "truth": float(truth[i]), "proxy": float(np.log(features[i]) + 0.05 * rng.normal())} for i in range(n)]
    table, _ = load_table(hand_store(tmp_path / "p.db", rows))
    by_params = {r.metric: r for r in proxies_report(table, "truth.val_acc", boot=0, metrics=["proxy.val_acc"]).rows}
    by_features = {r.metric: r for r in proxies_report(table, "truth.val_acc", boot=0, metrics=["proxy.val_acc"],
                                                       partial="features").rows}
    assert by_params["proxy.val_acc"].partial_spearman > 0.5       # size by params says nothing here
    assert abs(by_features["proxy.val_acc"].partial_spearman) < 0.3  # the proxy is the feature count (plus noise)
    with pytest.raises(AnalysisError, match="--partial 'nope'"):
        proxies_report(table, "truth.val_acc", boot=0, partial="nope")
