"""``rcx analyze funnel``: a cheap score's top k re-ranked by a dearer one, against single picks (issue 20)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rcx.analysis.common import AnalysisError
from rcx.analysis.funnel import draws, funnel_picks, paired_interval
from rcx.cli import main

from .test_cost import run_db  # noqa: F401  (fixture: a tiny run with ridge_rfm and ridge_loo)


def _arrays(n=200, seed=1):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    first = truth + rng.normal(scale=1.0, size=n)  # a noisy cheap score
    params = truth + rng.normal(scale=2.0, size=n)
    return first, truth, params


def test_a_perfect_second_score_picks_the_best_of_the_top_k():
    first, truth, params = _arrays()
    p = funnel_picks(first, truth.copy(), truth, params, n_arch=50, top=10, runs=40, seed=0)
    assert p.covered.all() and (p.scored == 10).all()
    assert (p.funnel >= p.first).all() and (p.funnel <= p.optimum).all()
    assert np.array_equal(p.funnel, p.ceiling)  # the truth as the second score reaches the ceiling
    assert p.funnel.mean() > p.first.mean()
    again = funnel_picks(first, truth.copy(), truth, params, n_arch=50, top=10, runs=40, seed=0)
    assert np.array_equal(again.funnel, p.funnel)  # seeded draws


def test_top_1_is_the_first_score_and_missing_second_scores_are_counted():
    first, truth, params = _arrays()
    same = funnel_picks(first, truth.copy(), truth, params, n_arch=50, top=1, runs=20, seed=3)
    assert np.array_equal(same.funnel, same.first) and np.array_equal(same.ceiling, same.first)
    second = truth.copy()
    second[np.argsort(-first)[:5]] = np.nan  # the five best by the first score were never trained
    p = funnel_picks(first, second, truth, params, n_arch=200, top=10, runs=3, seed=0)
    assert not p.covered.any() and (p.scored == 5).all()
    alone = funnel_picks(first, second, truth, params, n_arch=200, top=1, runs=3, seed=0)
    assert alone.covered.all() and (alone.scored == 0).all()  # k = 1 needs no second score
    with pytest.raises(AnalysisError, match="--top"):
        funnel_picks(first, second, truth, params, n_arch=10, top=11, runs=1, seed=0)


def test_paired_interval_brackets_the_mean():
    a, b = np.arange(20.0), np.arange(20.0) - 1.0
    assert paired_interval(a, b, 200, 0) == pytest.approx((1.0, 1.0, 1.0))
    mean, lo, hi = paired_interval(np.random.default_rng(0).normal(size=50), np.zeros(50), 500, 0)
    assert lo < mean < hi


def test_cli_on_a_run(run_db, capsys):  # noqa: F811
    argv = ["analyze", "funnel", str(run_db), "--first", "ridge_loo.val_acc", "--second", "ridge_rfm.train_acc",
            "--truth", "ridge_rfm.val_acc", "--n-arch", "4", "--top", "2", "--runs", "10", "--boot", "50",
            "--format", "json"]
    assert main(argv) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in doc["rows"]}
    assert set(rows) == {"funnel", "first", "params", "ceiling", "optimum"} and doc["meta"]["covered"] == 10
    assert rows["optimum"]["mean"] >= rows["ceiling"]["mean"] >= max(rows[m]["mean"] for m in ("funnel", "first"))
    assert rows["ceiling"]["core_seconds"] is None  # a bound, not a method one can pay for (JSON null)
    assert rows["funnel"]["core_seconds"] > rows["first"]["core_seconds"] > 0
    assert main([*argv[:-2], "--top", "9"]) == 2


def test_a_second_stage_that_has_not_run_is_an_error(tmp_path, capsys):
    from rcx.core.store import Store

    path = tmp_path / "r.db"
    store = Store.open(path)
    run_id = store.create_run(name="r", plan_text="", plan={"evaluators": {"cheap": {}, "dear": {"by": "cheap.v"}}},
                              plan_hash="h", versions={}, device="cpu", device_name="cpu (x86_64, 1 threads, AVX2)",
                              dataset={"shape": [3, 8, 8]})
    store.add_candidates(run_id, [(i, f"x{i}", {}, {"params": i}, True, "") for i in range(6)])
    for i in range(6):
        store.finish_evaluation(run_id, f"x{i}", "cheap", "done", metrics={"v": float(i % 3), "truth": float(i)},
                                seed=0, seconds=1.0, cpu_s=0.5)
        store.finish_evaluation(run_id, f"x{i}", "dear", "failed", metrics={"v": 1.0}, seed=0)  # none done
    store.close()
    argv = ["analyze", "funnel", str(path), "--first", "cheap.v", "--second", "dear.v", "--truth", "cheap.truth",
            "--n-arch", "4", "--top", "2", "--runs", "3", "--boot", "10"]
    assert main(argv) == 2
    assert "dear.v has no value" in capsys.readouterr().err


def test_a_rank_average_stage_costs_its_instances_once():
    """The cost of a rank-average score is that of every instance it reads; an instance the first
    stage already computed is not paid again, and a baseline costs nothing."""
    from rcx.analysis.funnel import score_cost, score_instances

    assert score_instances("naswot.score") == {"naswot"}
    assert score_instances("rankavg(naswot.score,short.train_loss,params)") == {"naswot", "short"}
    costs = {"naswot": (0.8, "cpu"), "short": (25.0, "cpu"), "old": (2.0, "wall x1")}
    second = score_instances("rankavg(naswot.score,short.train_loss)") - score_instances("naswot.score")
    assert score_cost(costs, second) == (25.0, "cpu")
    assert score_cost(costs, {"naswot", "old"}) == (2.8, "cpu, wall x1")
    assert score_cost(costs, set()) == (0.0, "nothing new to compute")
    assert math.isnan(score_cost(costs, {"missing"})[0])


def test_the_ceiling_bounds_every_second_score():
    first, truth, params = _arrays()
    rng = np.random.default_rng(5)
    for second in (rng.normal(size=len(truth)), -truth, truth + rng.normal(size=len(truth))):
        p = funnel_picks(first, second, truth, params, n_arch=60, top=8, runs=30, seed=2)
        assert (p.first <= p.ceiling).all() and (p.funnel <= p.ceiling).all() and (p.ceiling <= p.optimum).all()


def test_draws_are_seeded_distinct_and_best_first():
    first, _, _ = _arrays()
    one = list(draws(first, n_arch=30, runs=5, seed=4))
    for idx, by_first in one:
        assert len(set(idx.tolist())) == 30 and sorted(idx.tolist()) == sorted(by_first.tolist())
        assert (np.diff(first[by_first]) <= 0).all()
    again = list(draws(first, n_arch=30, runs=5, seed=4))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(one, again))


def test_a_sweep_of_k_gives_one_row_per_k_on_the_same_draws(run_db, capsys):  # noqa: F811
    """--top 1,2,3: one row per k; each row's funnel is the single-k analysis' funnel row, k = 1
    is the first score's pick at the first score's cost, and the cost grows by the second's per k."""
    base = ["analyze", "funnel", str(run_db), "--first", "ridge_loo.val_acc", "--second", "ridge_rfm.train_acc",
            "--truth", "ridge_rfm.val_acc", "--n-arch", "4", "--runs", "10", "--boot", "50", "--format", "json"]
    assert main([*base, "--top", "1,3,2"]) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["top"] == [1, 3, 2] and [r["top"] for r in doc["rows"]] == [1, 3, 2]
    rows = {r["top"]: r for r in doc["rows"]}
    assert rows[1]["minus_first"] == 0 and rows[1]["ceiling"] == rows[1]["mean"]
    for k in (1, 2, 3):
        assert main([*base, "--top", str(k)]) == 0
        single = {r["method"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
        assert rows[k]["mean"] == single["funnel"]["mean"] and rows[k]["ceiling"] == single["ceiling"]["mean"]
        assert rows[k]["core_seconds"] == single["funnel"]["core_seconds"]
        assert rows[k]["minus_params"] == pytest.approx(single["funnel"]["mean"] - single["params"]["mean"])
    assert rows[1]["core_seconds"] == single["first"]["core_seconds"]  # no second stage at k = 1
    step = rows[3]["core_seconds"] - rows[2]["core_seconds"]
    assert step > 0 and rows[2]["core_seconds"] - rows[1]["core_seconds"] == pytest.approx(2 * step)
    assert main([*base[:-2], "--top", "1,3"]) == 0  # the terminal table
    out = capsys.readouterr().out
    assert "minus_params" in out and "10/10" in out
    for bad in ("0,2", "2,2", "two"):
        with pytest.raises(SystemExit) as exit_info:
            main([*base, "--top", bad])
        assert exit_info.value.code == 2


def test_a_sweep_draws_its_gain_over_the_largest_network_against_the_cost(run_db, capsys, tmp_path):  # noqa: F811
    """--plot (terminal) and --save (SVG, PNG) draw one point per k: x the cost per pick, y the
    gain over the largest network; a single k has nothing to draw and says so."""
    base = ["analyze", "funnel", str(run_db), "--first", "ridge_loo.val_acc", "--second", "ridge_rfm.train_acc",
            "--truth", "ridge_rfm.val_acc", "--n-arch", "4", "--runs", "10", "--boot", "50"]
    svg, png = tmp_path / "k.svg", tmp_path / "k.png"
    assert main([*base, "--top", "1,2,3", "--plot", "--save", str(svg)]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "first score alone" in out and "top 3" in out and "core-seconds per pick" in out
    assert f"chart: {svg}" in err
    text = svg.read_text()
    assert text.startswith("<svg") and "top 2" in text and "first score alone" in text
    assert main([*base, "--top", "1,2", "--save", str(png)]) == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main([*base, "--top", "2", "--plot"]) == 2
    assert "several" in capsys.readouterr().err
    assert main([*base, "--top", "1,2", "--save", str(tmp_path / "k.gif")]) == 2


def test_the_chart_y_axis_spans_the_bars_and_the_span_asked_for():
    """Spearman charts keep 0..1; the funnel's gains ask only for zero, so small gains fill it."""
    from rcx.analysis.chart import Label, Point, layout

    points = [Point("top 2", 170.0, 0.31, 0.15, 0.46), Point("top 10", 375.0, 0.14, -0.08, 0.34)]

    def ticks(**kw):
        return sorted({float(s.text) for s in layout(points, "t", "x", "y", **kw)
                       if isinstance(s, Label) and s.anchor == "end"})

    assert ticks()[0] == pytest.approx(-0.1) and ticks()[-1] == pytest.approx(1.0)
    assert ticks(y_span=(0.0, 0.0))[-1] == pytest.approx(0.5)
    assert ticks(y_span=(0.0, 0.0))[0] == pytest.approx(-0.1)
