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
