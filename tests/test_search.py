"""The optuna sampler: reproducible from the plan seed, resumable without asking a trial twice."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("optuna")

from rcx.core import events as ev  # noqa: E402
from rcx.core import search as search_module  # noqa: E402
from rcx.core.plan import PlanError, load_plan, parse_plan  # noqa: E402
from rcx.core.runner import Runner  # noqa: E402
from rcx.core.search import Objective, Search, objective_values  # noqa: E402
from rcx.core.store import Store  # noqa: E402

PLAN = """
seed = {seed}
device = "cpu"
output = "{output}"

[dataset]
name = "synthetic"
n_train = 120
n_test = 40
image_size = 16

[space]
name = "mlp2"
units = [8, 16, 32, 64]

[sampler]
kind = "optuna"
trials = {trials}
objective = {objective}
{extra}

[evaluators.ridge_rfm]
trials = 1
train_size = 80
val_size = 40
batch_size = 40
"""


def write_plan(tmp_path, name="plan.toml", seed=0, trials=8, objective='["ridge_rfm.val_acc"]', extra=""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(PLAN.format(seed=seed, output=tmp_path / f"{name}.db", trials=trials, objective=objective,
                                extra=extra))
    return path


def run(plan, registry, cancel_after: int | None = None):
    cancel = threading.Event()
    finished = []

    def on_event(e):
        if isinstance(e, ev.EvalFinished):
            finished.append(e)
            if cancel_after is not None and len(finished) >= cancel_after:
                cancel.set()

    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=on_event, cancel=cancel).run(store)
        return store.trials(run_id), store.evaluations(run_id), store.run(run_id).state, finished
    finally:
        store.close()


def test_a_search_is_reproducible_and_resumes_without_asking_twice(registry, tmp_path):
    plan = load_plan(write_plan(tmp_path / "a"), registry)
    trials, evals, state, _ = run(plan, registry)
    assert state == "finished"
    assert [t["number"] for t in trials] == list(range(8))
    archs = [t["arch"] for t in trials]
    assert len(evals) == len(set(archs))  # a repeated proposal reuses the stored result

    again = load_plan(write_plan(tmp_path / "b"), registry)
    first, _, state, _ = run(again, registry, cancel_after=3)
    assert state == "interrupted" and 3 <= len(first) < 8
    resumed, evals_b, state, finished = run(again, registry)
    assert state == "finished"
    assert [t["arch"] for t in resumed] == archs  # the same proposals as the uninterrupted search
    assert [t["number"] for t in resumed] == list(range(8))
    assert sorted(e["arch"] for e in evals_b) == sorted(set(archs))
    assert len(finished) == len(set(archs)) - len({t["arch"] for t in first})  # nothing evaluated twice

    other_seed = load_plan(write_plan(tmp_path / "c", seed=5), registry)
    assert [t["arch"] for t in run(other_seed, registry)[0]] != archs


@pytest.mark.parametrize("algorithm", ["nsga2", "random"])
def test_two_objectives_and_other_algorithms(registry, tmp_path, algorithm):
    path = write_plan(tmp_path, trials=6, objective='["ridge_rfm.val_acc", "params"]',
                      extra=f'algorithm = "{algorithm}"\nbatch = 3')
    trials, evals, state, _ = run(load_plan(path, registry), registry)
    assert state == "finished" and len(trials) == 6
    assert all(t["system_attrs"] is not None for t in trials)


def test_the_study_replays_recorded_trials():
    class Grid:
        name = "g"

        def grid(self):
            return {"x": range(0, 10), "y": ["a", "b"]}

        def from_grid(self, values):
            from rcx.api.arch import Arch

            return Arch("g", f"{values['x']}{values['y']}", dict(values))

        def from_id(self, arch_id):  # proposals are read back through the space's canonical ids
            from rcx.api.arch import Arch

            return Arch("g", arch_id, {})

    objective = [Objective("e.score", maximize=True)]
    first = Search(Grid(), objective, "tpe", seed=3)
    asked = []
    for _ in range(12):
        p = first.ask()
        asked.append(p)
        first.tell(p.number, [float(p.values["x"])])
    replayed = Search(Grid(), objective, "tpe", seed=3)
    for p in asked[:7]:
        replayed.replay(p.record(), [float(p.values["x"])])
    assert [replayed.ask().values for _ in range(1)] == [asked[7].values]


def test_objective_values_need_every_value_finite():
    objectives = [Objective("e.score", True), Objective("flops", False)]
    assert objective_values(objectives, {"e": ("done", {"score": 2})}, {"flops": 10}) == [2.0, 10.0]
    assert objective_values(objectives, {"e": ("failed", {"score": 2})}, {"flops": 10}) is None
    assert objective_values(objectives, {"e": ("done", {"score": float("nan")})}, {"flops": 10}) is None
    assert objective_values(objectives, {}, {"flops": 10}) is None


@pytest.mark.parametrize("change, path, says", [
    (('trials = 8', ''), "sampler.trials", "needs trials = N"),
    (('objective = ["ridge_rfm.val_acc"]', ''), "sampler.objective", "one or two objectives"),
    (('["ridge_rfm.val_acc"]', '["a.b", "c.d", "e.f"]'), "sampler.objective", "one or two objectives"),
    (('["ridge_rfm.val_acc"]', '["ridge_rfm.nope"]'), "sampler.objective", "no metric 'nope'"),
    (('["ridge_rfm.val_acc"]', '["cvu.cv_u"]'), "sampler.objective", "instance.metric of an evaluator table"),
    (('kind = "optuna"', 'kind = "optuna"\nn = 4'), "sampler.n", "counts trials = N"),
])
def test_search_keys_are_checked(registry, tmp_path, change, path, says):
    text = write_plan(tmp_path).read_text().replace(*change)
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry, source="p.toml")
    assert [(p.path, says in p.message) for p in info.value.problems] == [(path, True)]


def test_without_optuna_or_a_grid_the_plan_says_so(registry, tmp_path, monkeypatch):
    text = write_plan(tmp_path).read_text()
    monkeypatch.setattr(search_module, "optuna_available", lambda: False)
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry, source="p.toml")
    assert [p.message for p in info.value.problems] == ['the optuna sampler needs Optuna: pip install "rcx[search]"']
    monkeypatch.undo()
    monkeypatch.setattr(registry.get("space", "mlp2"), "grid", lambda self: None)
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry, source="p.toml")
    assert "declares no parameter grid" in info.value.problems[0].message


# -- stages after a search (issue 25) and a search that knows validity (issue 23) ---------------
STAGED = """
[evaluators.second]
evaluator = "ridge_rfm"
trials = 1
train_size = 80
val_size = 40
batch_size = 40
init = "kaiming_normal"
top = 3
by = ["ridge_rfm.val_acc", "params"]

[evaluators.third]
evaluator = "ridge_rfm"
trials = 1
train_size = 80
val_size = 40
batch_size = 40
init = "kaiming_uniform"
top = 1
by = "second.val_acc"
"""


def staged_plan(tmp_path, registry, trials=6, extra="batch = 3"):
    path = write_plan(tmp_path, trials=trials, extra=extra)
    path.write_text(path.read_text() + STAGED)
    return load_plan(path, registry)


def test_stages_follow_the_search_in_one_plan_and_one_results_file(registry, tmp_path):
    from rcx.core.results import results_table

    plan = staged_plan(tmp_path, registry)
    events = []
    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=events.append).run(store)
        table = results_table(store, run_id, registry)
        assert store.run(run_id).state == "finished"
        archs = {t["arch"] for t in store.trials(run_id)}
        assert {r["arch"] for r in table.rows} == archs  # the search's candidates, one table
        selection = store.selection(run_id, "second")
        assert selection["by"] == "rankavg(ridge_rfm.val_acc,params)" and len(selection["selected"]) == 3
        assert store.selection(run_id, "third")["selected"][0] in selection["selected"]
    finally:
        store.close()
    assert sum(r["second.status"] == "done" for r in table.rows) == 3
    assert sum(r["third.status"] == "done" for r in table.rows) == 1
    started = [e for e in events if isinstance(e, ev.EvalStarted)]
    first_staged = next(i for i, e in enumerate(started) if e.evaluator != "ridge_rfm")
    assert all(e.evaluator == "ridge_rfm" for e in started[:first_staged]) and \
        len(started[:first_staged]) == len(archs), "the stages run once the search has proposed every candidate"
    last = [e for e in events if isinstance(e, ev.StageProgress)][-1]
    n = len(archs)
    assert [(s.stage, s.instances, s.waiting, s.running, s.done, s.skipped) for s in last.stages] == [
        (0, ("ridge_rfm",), 0, 0, n, 0), (1, ("second",), 0, 0, 3, n - 3), (2, ("third",), 0, 0, 1, n - 1)]


def test_an_objective_from_a_stage_is_a_plan_error(registry, tmp_path):
    path = write_plan(tmp_path, objective='["second.val_acc"]')
    path.write_text(path.read_text() + STAGED)
    with pytest.raises(PlanError) as info:
        load_plan(path, registry)
    assert [(p.path, "runs after the search" in p.message) for p in info.value.problems] == \
        [("sampler.objective", True)]


def test_a_search_stopped_while_recording_a_batch_resumes_to_the_same_proposals(registry, tmp_path, monkeypatch):
    """batch > 1: each batch is recorded whole before it is evaluated (one transaction), so a
    kill while recording it leaves no half batch that a resumed study would see as finished."""
    import rcx.core.store as store_module

    extra = 'batch = 4\nalgorithm = "tpe"'
    whole = staged_plan(tmp_path / "whole", registry, trials=16, extra=extra)
    expected = [t["arch"] for t in run(whole, registry)[0]]

    plan = staged_plan(tmp_path / "killed", registry, trials=16, extra=extra)
    dumps = store_module._dumps

    def dies_in_batch_four(value, where, lenient=False):
        if where == "trial" and value["number"] == 13:
            raise KeyboardInterrupt  # a kill between two trials of one batch
        return dumps(value, where, lenient)

    monkeypatch.setattr(store_module, "_dumps", dies_in_batch_four)
    with pytest.raises(KeyboardInterrupt):
        run(plan, registry)
    monkeypatch.undo()
    store = Store.open(plan.output)
    try:
        assert [t["number"] for t in store.trials(1)] == list(range(12)), "the batch is recorded whole or not at all"
    finally:
        store.close()
    trials, evals, state, _ = run(plan, registry)
    assert state == "finished" and [t["arch"] for t in trials] == expected


def _ksd_plan(tmp_path, registry, trials=10):
    """ksd on 32x32 images (issue 23's case): most kernel/stride/dilation choices shrink them
    below 1x1 (about 14 % fit)."""
    text = (write_plan(tmp_path, trials=trials, extra='algorithm = "random"\nbatch = 2').read_text()
            .replace('name = "mlp2"\nunits = [8, 16, 32, 64]', 'name = "ksd"\nchannels = 4')
            .replace("image_size = 16", "image_size = 32"))
    path = tmp_path / "ksd.toml"
    path.write_text(text)
    return load_plan(path, registry)


def test_the_search_proposes_valid_architectures_and_counts_rejections(registry, tmp_path, capsys):
    from rcx.cli import main

    plan = _ksd_plan(tmp_path, registry)
    events = []
    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=events.append).run(store)
        records = store.trials(run_id)
        candidates = store.candidates(run_id)
    finally:
        store.close()
    accepted = [r for r in records if not r.get("rejected")]
    rejected = [r for r in records if r.get("rejected")]
    assert len(accepted) == 10 and len(rejected) > 10, "most random ksd proposals do not fit 32x32"
    assert all(r["error"] for r in rejected) and [r["number"] for r in records] == list(range(len(records)))
    assert all(c["valid"] for c in candidates), "only valid architectures became candidates"
    warning = [e.message for e in events if isinstance(e, ev.Log) and e.level == "warning"]
    assert any(f"{len(rejected)} of {len(records)} proposals were not valid ksd architectures" in m for m in warning)

    resumed = _ksd_plan(tmp_path / "again", registry)
    first, _, state, _ = run(resumed, registry, cancel_after=3)
    assert state == "interrupted"
    again, _, state, _ = run(resumed, registry)
    assert state == "finished" and [r["arch"] for r in again] == [r["arch"] for r in records]
    assert main(["run", "--headless", str(tmp_path / "ksd.toml"), "--top", "10"]) == 0
    out = capsys.readouterr().out
    assert "top 10 by ridge_rfm.val_acc" in out and "invalid" not in out


def test_a_search_accepts_an_invalid_proposal_only_after_the_bound(monkeypatch, registry, tmp_path):
    from rcx.core import search as search_mod

    monkeypatch.setattr(search_mod, "MAX_REJECTIONS", 0)  # the bound reached at once: invalid ones pass
    monkeypatch.setattr(search_mod.Search.ask_valid, "__defaults__", (0,))
    plan = _ksd_plan(tmp_path, registry, trials=6)
    trials, evals, state, _ = run(plan, registry)
    assert state == "finished" and not any(t.get("rejected") for t in trials) and len(trials) == 6
    assert any(e["status"] == "invalid" for e in evals)
