"""Scores: rank averages declared once (rcx.core.scores) and used by stages, rcx results and the
TUI's filter; the architecture's baselines with a direction; a funnel's default order."""

from __future__ import annotations

import csv
import io
import json

import pytest

from rcx.cli import main
from rcx.core.plan import PlanError, parse_plan
from rcx.core.results import ResultsTable
from rcx.core.scores import parse_score, rank_average, rank_average_rows, score_name
from rcx.core.stages import Stage, select, stage_numbers


def test_rank_average_ranks_each_column_by_its_direction_and_averages_ties():
    higher = [3.0, 1.0, 2.0, 2.0]  # ranks (best first): 1, 4, 2.5, 2.5
    lower = [10, 40, 20, 30]  # ranks: 1, 4, 2, 3
    assert rank_average([higher, lower], [True, False]) == [1.0, 4.0, 2.25, 2.75]
    assert rank_average([higher], [False]) == [4.0, 1.0, 2.5, 2.5]


def test_rank_average_leaves_out_rows_missing_a_value_and_ranks_the_rest_among_themselves():
    a = [1.0, None, 3.0, float("nan"), 2.0]
    b = [5.0, 1.0, 4.0, 2.0, True]  # a bool is not a number
    assert rank_average([a, b], [True, True]) == [1.5, None, 1.5, None, None]
    assert rank_average([[None, None]], [True]) == [None, None]


def test_rows_count_an_evaluator_column_only_where_its_evaluation_is_done():
    rows = [{"e.status": "done", "e.x": 1.0, "flops": 5}, {"e.status": "screened", "e.x": 2.0, "flops": 6},
            {"e.status": "done", "e.x": 3.0, "flops": 7}]
    assert rank_average_rows(rows, ["e.x", "flops"], [True, True]) == [2.0, None, 1.0]


@pytest.mark.parametrize("spec, columns", [
    ("a.x", ("a.x",)), ("a.x, b.y,flops", ("a.x", "b.y", "flops")), ("rankavg(a.x,flops)", ("a.x", "flops")),
    (["a.x", "flops"], ("a.x", "flops")),
])
def test_parse_score(spec, columns):
    assert parse_score(spec) == columns
    assert parse_score(score_name(columns)) == columns


@pytest.mark.parametrize("spec", ["", "a,,b", ["a", "a"], []])
def test_parse_score_refuses_empty_and_repeated_columns(spec):
    with pytest.raises(ValueError):
        parse_score(spec)


def test_a_stage_selects_by_a_rank_average_with_a_baseline():
    stage = Stage.rank_average(["a.s", "b.s", "flops"], [True, False, True], top=2)
    assert stage.by == "rankavg(a.s,b.s,flops)" and stage.instances == ("a", "b") and not stage.higher_is_better
    assert stage.plan_keys() == {"by": ["a.s", "b.s", "flops"], "top": 2}
    evals = {
        "x0": {"a": ("done", {"s": 3.0}), "b": ("done", {"s": 1.0})},  # ranks 1, 1, 2 -> 1.33
        "x1": {"a": ("done", {"s": 2.0}), "b": ("done", {"s": 2.0})},  # ranks 2, 2, 1 -> 1.67
        "x2": {"a": ("done", {"s": 1.0}), "b": ("done", {"s": 3.0})},  # ranks 3, 3, 3 -> 3
        "x3": {"a": ("done", {"s": 9.0}), "b": ("failed", {})},
        "x4": {"a": ("skipped", {}), "b": ("done", {"s": 0.0})},
    }
    info = {"x0": {"flops": 20}, "x1": {"flops": 30}, "x2": {"flops": 10}, "x3": {"flops": 99}, "x4": {"flops": 99}}
    sel = select(stage, evals, info)
    assert sel.selected == ["x0", "x1"]
    assert "rank 3 of 3 by rankavg(a.s,b.s,flops) (3)" in sel.skipped["x2"]
    assert "b ended failed" in sel.skipped["x3"] and "not selected for a" in sel.skipped["x4"]
    fraction = Stage.rank_average(["a.s", "b.s", "flops"], [True, False, True], top_fraction=0.5)
    assert len(select(fraction, evals, info).selected) == 2  # ceil(0.5 * 4 entered): x4 never entered


def test_stage_numbers_follow_the_latest_ranking_instance():
    s = lambda *cols: Stage.rank_average(list(cols), [True] * len(cols), top=1)  # noqa: E731
    stages = [("a", None), ("b", s("a.x")), ("c", s("a.x", "b.y")), ("d", s("flops"))]
    assert stage_numbers(stages) == {"a": 0, "b": 1, "c": 2, "d": 1}


FUNNEL = """
seed = 0
device = "cpu"
[dataset]
name = "synthetic"
n_train = 96
n_test = 32
image_size = 16
[space]
name = "mlp2"
units = [8, 16]
[sampler]
kind = "exhaustive"
[evaluators.a]
evaluator = "ridge_rfm"
trials = 1
train_size = 64
val_size = 32
batch_size = 32
[evaluators.b]
evaluator = "ridge_rfm"
trials = 1
train_size = 64
val_size = 32
batch_size = 32
init = "kaiming_normal"
{stage}
"""


def _plan(registry, stage: str):
    return parse_plan(FUNNEL.replace("{stage}", stage), registry, source="funnel.toml")


def test_a_plan_by_may_be_a_rank_average_of_earlier_metrics_and_baselines(registry):
    plan = _plan(registry, '[evaluators.c]\nevaluator = "ridge_rfm"\ntrain_size = 64\nval_size = 32\ntop = 2\n'
                           'by = ["a.val_acc", "b.val_acc", "params"]')
    stage = plan.evaluators[2].stage
    assert stage.ranked_by == (("a.val_acc", True), ("b.val_acc", True), ("params", True))
    assert plan.normalized()["evaluators"]["c"]["by"] == ["a.val_acc", "b.val_acc", "params"]
    single = _plan(registry, '[evaluators.c]\nevaluator = "ridge_rfm"\ntrain_size = 64\nval_size = 32\ntop = 2\n'
                             'by = "a.val_acc"')
    assert single.normalized()["evaluators"]["c"]["by"] == "a.val_acc"  # the hash of plans before rank averages


@pytest.mark.parametrize("by, says", [
    ('["a.val_acc", "z.val_acc"]', "'z.val_acc' must name an earlier evaluator table"),
    ('["a.val_acc", "a.nope"]', "a reports no metric 'nope'"),
    ('["a.val_acc", "a.val_acc"]', "each column once"),
    ('["a.val_acc", "ratio"]', "or a baseline (params, flops, features)"),
    ("3", "a stage needs by ="),
])
def test_bad_rank_averages_are_plan_errors(registry, by, says):
    with pytest.raises(PlanError) as info:
        _plan(registry, f'[evaluators.c]\nevaluator = "ridge_rfm"\ntrain_size = 64\nval_size = 32\ntop = 2\nby = {by}')
    assert [(p.path, says in p.message) for p in info.value.problems] == [("evaluators.c.by", True)], \
        [p.message for p in info.value.problems]


def _table() -> ResultsTable:
    rows = [
        {"arch": "f1", "params": 5, "a.status": "done", "a.s": 0.1, "b.status": "done", "b.acc": 0.5},
        {"arch": "f2", "params": 9, "a.status": "done", "a.s": 0.3, "b.status": "done", "b.acc": 0.7},
        {"arch": "m1", "params": 7, "a.status": "done", "a.s": 0.2, "b.status": "skipped", "b.acc": None},
        {"arch": "m2", "params": 2, "a.status": "done", "a.s": 0.9, "b.status": "skipped", "b.acc": None},
        {"arch": "m3", "params": 1, "a.status": "failed", "a.s": None, "b.status": "skipped", "b.acc": None},
    ]
    return ResultsTable(list(rows[0]), rows, {"params": True, "a.s": True, "b.acc": True}, ["a", "b"],
                        {"a": ("s",), "b": ("acc",)}, None, {"a": 0, "b": 1}, {"params": "baseline"}, {"b": "a.s"})


def test_a_funnel_lists_finalists_first_then_by_the_score_that_decided():
    table = _table()
    assert [r["arch"] for r in table.funnel_order()] == ["f2", "f1", "m2", "m1", "m3"]
    assert [table.reached(r) for r in table.rows] == [1, 1, 0, 0, 0]


def test_the_table_resolves_a_rank_average_once_as_a_lower_is_better_column():
    table = _table()
    name = table.resolve("a.s,params")
    assert name == "rankavg(a.s,params)" and table.higher_is_better[name] is False
    assert [r[name] for r in table.rows] == [3.5, 1.5, 2.5, 2.5, None]
    assert table.resolve("rankavg(a.s,params)") == name and table.columns.count(name) == 1
    assert [r["arch"] for r in table.sorted(name)] == ["f2", "m1", "m2", "f1", "m3"]
    with pytest.raises(KeyError, match="no column 'nope'"):
        table.resolve("a.s,nope")


def test_the_tui_filter_sorts_by_a_rank_average():
    from rcx.tui.state import FilterError, RowFilter

    table = _table()
    f = RowFilter.parse("rank:a.s,params", table)
    assert f.rank == "rankavg(a.s,params)" and f.rank in table.columns
    fresh = _table()  # the next snapshot from the store: the filter adds the column again
    f.refreshed(fresh)
    assert f.rank in fresh.columns
    with pytest.raises(FilterError, match="rank:a.s,zz"):
        RowFilter.parse("rank:a.s,zz", table)


# -- on a real run --------------------------------------------------------------------------------
@pytest.fixture
def funnel_db(registry, tmp_path):
    from rcx.core.runner import Runner
    from rcx.core.store import Store

    plan = _plan(registry, '[evaluators.c]\nevaluator = "ridge_rfm"\ntrials = 1\ntrain_size = 64\nval_size = 32\n'
                           'batch_size = 32\ntop = 2\nby = ["a.val_acc", "b.val_acc", "flops"]')
    plan.output = tmp_path / "funnel.db"
    store = Store.open(plan.output)
    try:
        Runner(plan, registry).run(store)
    finally:
        store.close()
    return plan.output


def test_results_sort_by_a_rank_average_and_a_funnel_default_order(funnel_db, capsys):
    assert main(["results", str(funnel_db), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    statuses = [r["c.status"] for r in rows]
    assert statuses[:2] == ["done", "done"] and set(statuses[2:]) == {"skipped"}, "finalists first"
    col = "rankavg(a.val_acc,b.val_acc,flops)"
    ranked = [r for r in rows if r[col] is not None]
    assert [r[col] for r in ranked[2:]] == sorted(r[col] for r in ranked[2:]), "then by the score that decided"
    assert main(["results", str(funnel_db), "--sort", "a.val_acc,flops", "--format", "json"]) == 0
    by_avg = json.loads(capsys.readouterr().out)
    values = [r["rankavg(a.val_acc,flops)"] for r in by_avg]
    assert values == sorted(values)


def test_csv_leaves_out_an_evaluators_copies_of_the_architecture_columns(funnel_db, capsys):
    assert main(["results", str(funnel_db), "--format", "csv"]) == 0
    header = next(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert {"params", "flops", "features", "ratio", "a.val_acc"} <= set(header)
    assert not {"a.params", "a.flops", "a.features", "a.ratio"} & set(header), header
    assert main(["results", str(funnel_db), "--format", "csv", "--all-columns"]) == 0
    assert "a.params" in next(csv.reader(io.StringIO(capsys.readouterr().out)))


def test_corr_takes_a_rank_average(funnel_db, capsys):
    assert main(["analyze", "corr", str(funnel_db), "--x", "a.val_acc,flops", "--y", "b.val_acc", "--format",
                 "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["x"] == "rankavg(a.val_acc,flops)" and doc["rows"][0]["n"] == 4


def test_a_baseline_stays_a_cost_in_a_pareto_front():
    """params ranks higher-is-better as a baseline, but a Pareto front minimises it as a cost."""
    from rcx.analysis.pareto import parse_objectives

    objectives = parse_objectives("a.s,params", _table())
    assert [(o.column, o.maximize) for o in objectives] == [("a.s", True), ("params", False)]
