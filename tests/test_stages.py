"""Stages: evaluators that run only on the best candidates of earlier ones."""

from __future__ import annotations

import math

import pytest

from rcx.core import events as ev
from rcx.core.plan import PlanError, load_plan, parse_plan
from rcx.core.results import results_table
from rcx.core.runner import Runner
from rcx.core.stages import SKIPPED, Stage, select, stage_numbers
from rcx.core.store import Store

from .conftest import tiny_plan

STAGE_B = """
[evaluators.ridge_b]
evaluator = "ridge_rfm"
trials = 1
train_size = 100
val_size = 60
batch_size = 32
{stage}
"""


def done(value):
    return ("done", {"val_acc": value})


def test_ties_are_broken_by_id_and_only_finite_done_values_compete():
    stage = Stage(by="a.val_acc", higher_is_better=True, top=3)
    evaluations = {
        "d": done(0.5), "b": done(0.9), "a": done(0.9), "c": done(0.5), "e": done(0.7),
        "f": ("failed", {}), "g": done(float("nan")), "h": ("screened", {"val_acc": 1.0}),
        "i": (SKIPPED, {}), "j": ("done", {}),
    }
    sel = select(stage, evaluations)
    assert sel.selected == ["a", "b", "e"]
    assert set(sel.skipped) == set(evaluations) - {"a", "b", "e"}
    assert "rank 4 of 5" in sel.skipped["c"] and "rank 5 of 5" in sel.skipped["d"]
    assert "ended failed" in sel.skipped["f"] and "ended screened" in sel.skipped["h"]
    assert "not a number" in sel.skipped["g"] and "not a number" in sel.skipped["j"]
    assert "not selected for a" in sel.skipped["i"]


def test_lower_is_better_and_fractions_round_up_over_those_that_entered():
    evaluations = {f"x{i}": done(float(i)) for i in range(10)} | {"s": (SKIPPED, {})}
    low = Stage(by="a.loss", higher_is_better=False, top_fraction=0.25)
    evaluations = {k: (s, {"loss": m.get("val_acc")} if m else {}) for k, (s, m) in evaluations.items()}
    assert select(low, evaluations).selected == ["x0", "x1", "x2"]  # ceil(0.25 * 10)
    assert select(Stage(by="a.loss", higher_is_better=False, top_fraction=0.001), evaluations).selected == ["x0"]
    assert select(Stage(by="a.loss", higher_is_better=False, top=50), evaluations).selected == \
        [f"x{i}" for i in range(10)]


def test_nothing_to_rank_selects_nothing():
    sel = select(Stage(by="a.val_acc", higher_is_better=True, top=2), {"a": ("failed", {}), "b": ("invalid", {})})
    assert sel.selected == [] and set(sel.skipped) == {"a", "b"}


def test_stage_numbers_follow_the_ranking_instance():
    s = lambda by: Stage(by=by, higher_is_better=True, top=1)  # noqa: E731
    assert stage_numbers([("a", None), ("b", None), ("c", s("a.x")), ("d", s("c.y")), ("e", s("b.z"))]) == {
        "a": 0, "b": 0, "c": 1, "d": 2, "e": 1}


def plan_text(tmp_path, stage: str, n: int = 6) -> str:
    return tiny_plan(tmp_path, n=n, extra=STAGE_B.format(stage=stage)).read_text()


@pytest.mark.parametrize("stage, path, says", [
    ('top = 2', "evaluators.ridge_b.by", 'by = "instance.metric"'),
    ('by = "ridge_rfm.val_acc"', "evaluators.ridge_b", "either top = N or top_fraction = F"),
    ('top = 2\ntop_fraction = 0.5\nby = "ridge_rfm.val_acc"', "evaluators.ridge_b", "either top"),
    ('top = 0\nby = "ridge_rfm.val_acc"', "evaluators.ridge_b.top", ">= 1"),
    ('top_fraction = 0\nby = "ridge_rfm.val_acc"', "evaluators.ridge_b.top_fraction", "> 0"),
    ('top = 2\nby = "ridge_rfm.nope"', "evaluators.ridge_b.by", "no metric 'nope' (declared: val_acc"),
    ('top = 2\nby = "ridge_b.val_acc"', "evaluators.ridge_b.by", "earlier tables: ridge_rfm"),
    ('top = 2\nby = "later.val_acc"', "evaluators.ridge_b.by", "earlier evaluator table"),
])
def test_stage_keys_are_checked_with_their_lines(registry, tmp_path, stage, path, says):
    text = plan_text(tmp_path, stage)
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry, source="p.toml")
    (problem,) = info.value.problems
    assert problem.path == path and says in problem.message
    assert problem.line > 0


def test_the_stage_is_part_of_the_plan_identity(registry, tmp_path):
    plain = parse_plan(plan_text(tmp_path, ""), registry)
    staged = parse_plan(plan_text(tmp_path, 'top = 2\nby = "ridge_rfm.val_acc"'), registry)
    wider = parse_plan(plan_text(tmp_path, 'top = 3\nby = "ridge_rfm.val_acc"'), registry)
    assert len({plain.hash, staged.hash, wider.hash}) == 3
    assert "top" not in plain.normalized()["evaluators"]["ridge_b"]
    assert staged.evaluators[1].stage == Stage(by="ridge_rfm.val_acc", higher_is_better=True, top=2)


def run(plan, registry, cancel_after_stage_evals: int | None = None):
    import threading

    cancel = threading.Event()
    events: list = []

    def on_event(e):
        events.append(e)
        if (cancel_after_stage_evals is not None and isinstance(e, ev.EvalFinished)
                and sum(isinstance(x, ev.EvalFinished) and x.evaluator == "ridge_b" for x in events)
                >= cancel_after_stage_evals):
            cancel.set()

    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=on_event, cancel=cancel).run(store)
        return (results_table(store, run_id, registry), store.evaluations(run_id), store.selection(run_id, "ridge_b"),
                events)
    finally:
        store.close()


def test_a_stage_runs_on_the_best_and_resumes_mid_stage_without_recomputing(registry, tmp_path):
    path = tiny_plan(tmp_path, n=6, extra=STAGE_B.format(stage='top = 2\nby = "ridge_rfm.val_acc"'))
    plan = load_plan(path, registry)
    table, evals, recorded, events = run(plan, registry, cancel_after_stage_evals=1)
    first = [e for e in evals if e["evaluator"] == "ridge_b" and e["status"] == "done"]
    assert len(first) == 1  # stopped in the middle of stage 2
    stage_events = [e for e in events if isinstance(e, ev.StageStarted)]
    assert [(e.stage, e.stages, e.selected, e.newly_skipped) for e in stage_events] == [(0, 2, 6, 0), (1, 2, 2, 4)]

    table, evals, recorded2, events = run(plan, registry)
    assert recorded2 == recorded
    by_stage = {e["arch"]: e for e in evals if e["evaluator"] == "ridge_b"}
    assert len(by_stage) == 6
    ranked = sorted((-e["metrics"]["val_acc"], e["arch"]) for e in evals
                     if e["evaluator"] == "ridge_rfm" and e["status"] == "done")
    best = [a for _, a in ranked[:2]]
    assert recorded["selected"] == best
    assert {a for a, e in by_stage.items() if e["status"] == "done"} == set(best)
    assert all(e["status"] == SKIPPED and "rank" in e["error"] for a, e in by_stage.items() if a not in best)
    finished_again = [e for e in events if isinstance(e, ev.EvalFinished)]
    assert [(e.arch, e.evaluator) for e in finished_again] == [(a, "ridge_b") for a in best if a != first[0]["arch"]]
    resumed_stage = [e for e in events if isinstance(e, ev.StageStarted)][-1]
    assert resumed_stage.newly_skipped == 0 and resumed_stage.skipped == 4
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert (started.total, started.done, started.skipped) == (12, 11, 4)  # done counts the skipped ones too

    import io

    from rcx.progress import Reporter

    stream = io.StringIO()  # headless progress, as a resumed run shows it: skipped work counted apart
    reporter = Reporter(stream, live=False)
    for e in events:
        reporter(e)
    out = stream.getvalue()
    assert "already done, 4 skipped" in out and "8/12, 4 skipped] " in out, out
    assert "finished 8 of 12 evaluations, 4 skipped" in out
    assert "stage 1 (ridge_rfm): 6 done | stage 2 (ridge_b): 2 done, 4 skipped" in out
    assert all(math.isfinite(r["ridge_rfm.val_acc"]) for r in table.rows)
