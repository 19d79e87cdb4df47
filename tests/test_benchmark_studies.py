"""The NATS-Bench SSS and NAS-Bench-Macro study plans (examples/{nats_sss,nb_macro}_study*.toml)
sample the same architectures per space, and both spaces run through the samplers a user has:
``optuna`` over their grids, and a staged evaluator table."""

from __future__ import annotations

import pytest
import tomli

from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.core.store import Store

from .conftest import ROOT

SHARED = ("seed", "dataset", "space", "sampler")


@pytest.mark.parametrize("space, size", [("nats_sss", 32_768), ("nb_macro", 3_969)])
def test_the_study_plans_sample_the_same_architectures(space, size):
    names = {f"{space}_study{s}.toml" for s in ("", "_zerocost", "_cvu", "_gpu")}
    plans = {n: tomli.loads((ROOT / "examples" / n).read_text()) for n in names}
    first = plans[f"{space}_study.toml"]
    assert first["sampler"] == {"kind": "random", "n": 1000}
    assert first["space"] == {"name": space} and first["seed"] == 0
    for name, plan in plans.items():
        if name.endswith("_gpu.toml"):  # every architecture in the CPU plans' random order, every proxy
            assert plan["sampler"] == {"kind": "random", "n": size} and plan["device"] == "cuda"
            assert len(plan["evaluators"]) == 12 and plan["evaluators"]["cvu"]["n_init"] == 100
            shared = ("seed", "dataset", "space")
            assert {k: plan[k] for k in shared} == {k: first[k] for k in shared}
            continue
        assert {k: plan[k] for k in SHARED} == {k: first[k] for k in SHARED}, name
    outputs = [p["output"] for p in plans.values()]
    assert len(set(outputs)) == len(outputs) and all(o == f"runs/{n[:-5]}.db" for n, o in zip(plans, outputs))
    assert "Budget (measured" in (ROOT / "examples" / f"{space}_study.toml").read_text()


@pytest.mark.parametrize("space", ["nats_sss", "nb_macro"])
def test_the_gpu_plan_starts_with_the_cpu_sample(space, registry):
    """A random draw of the whole space lists the 1,000 of the CPU plans first, so a GPU run
    stopped anywhere holds a random sample that contains theirs once past 1,000."""
    from rcx.core.samplers import sample

    cls = registry.get("space", space)
    whole = sample(cls(), "random", len(cls()), seed=0)
    assert len({a.id for a in whole}) == len(cls()) and whole[:1000] == sample(cls(), "random", 1000, seed=0)


PLAN = """
seed = 0
device = "cpu"
output = "{output}"

[dataset]
name = "synthetic"
n_train = 60
n_test = 30
image_size = 16

[space]
name = "{space}"

[sampler]
{sampler}

[evaluators.ridge_rfm]
trials = 1
train_size = 40
val_size = 20
batch_size = 20

{stage}"""

STAGE = """
[evaluators.naswot]
batch_size = 8
top = 1
by = "ridge_rfm.val_acc"
"""


def _run(tmp_path, registry, space: str, sampler: str, stage: str = ""):
    plan = parse_plan(PLAN.format(output=tmp_path / f"{space}.db", space=space, sampler=sampler, stage=stage), registry)
    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry).run(store)
        return store.trials(run_id), store.evaluations(run_id), store.run(run_id).state
    finally:
        store.close()


@pytest.mark.parametrize("space", ["nats_sss", "nb_macro"])
def test_optuna_search_over_the_space(space, tmp_path, registry):
    trials, evals, state = _run(tmp_path, registry, space,
                                'kind = "optuna"\ntrials = 4\nobjective = ["ridge_rfm.val_acc"]')
    assert state == "finished" and len(trials) == 4 and all(t["arch"] and not t["error"] for t in trials)
    cls = registry.get("space", space)()
    assert all(cls.from_id(t["arch"]).id == t["arch"] for t in trials), "trials keep canonical ids"
    assert evals and all(e["status"] == "done" for e in evals)


@pytest.mark.parametrize("space", ["nats_sss", "nb_macro"])
def test_a_staged_table_over_the_space(space, tmp_path, registry):
    _, evals, state = _run(tmp_path, registry, space, 'kind = "random"\nn = 3', STAGE)
    assert state == "finished"
    assert sum(e["evaluator"] == "ridge_rfm" and e["status"] == "done" for e in evals) == 3
    naswot = [e for e in evals if e["evaluator"] == "naswot" and e["status"] == "done"]
    assert len(naswot) == 1, "the stage runs naswot on the best candidate only"
