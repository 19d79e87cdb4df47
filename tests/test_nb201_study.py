"""The 1,000-cell NAS-Bench-201 study plans (examples/nb201_study*.toml): they sample the same
cells, so their results join by architecture id, and their evaluator tables run."""

from __future__ import annotations

import tomli

from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.core.store import Store

from .conftest import ROOT

STUDY = sorted((ROOT / "examples").glob("nb201_study*.toml"))
SHARED = ("seed", "dataset", "space", "sampler")


def test_the_study_plans_sample_the_same_cells():
    assert {p.name for p in STUDY} >= {"nb201_study.toml", "nb201_study_cvu.toml", "nb201_study_cvu_gpu.toml",
                                       "nb201_study_zerocost.toml"}
    plans = {p.name: tomli.loads(p.read_text()) for p in STUDY}
    first = plans["nb201_study.toml"]
    assert first["sampler"] == {"kind": "random", "n": 1000} and first["space"]["name"] == "nb201"
    for name, plan in plans.items():
        assert {k: plan[k] for k in SHARED} == {k: first[k] for k in SHARED}, name
    outputs = [plan["output"] for plan in plans.values()]
    assert len(set(outputs)) == len(outputs)  # one results file per part


def test_the_study_evaluators_run_on_a_small_copy(tmp_path, registry):
    """nb201_study.toml as written plus nb201_study_cvu.toml's evaluator table, with synthetic
    data, 3 small cells and smaller sizes: every evaluation ends done (or degenerate)."""
    text = (ROOT / "examples" / "nb201_study.toml").read_text()
    cvu = (ROOT / "examples" / "nb201_study_cvu.toml").read_text()
    text += cvu[cvu.index("[evaluators.cvu]"):]
    for big, small in (
        ('device = "auto"', 'device = "cpu"'),
        ('output = "runs/nb201_study.db"', f'output = "{tmp_path / "study.db"}"'),
        ('name = "imagefolder"', 'name = "synthetic"\nn_train = 60\nn_test = 40\nimage_size = 16'),
        ('root = "/tmp/cifar10"', ""),
        ("channels = 16", "channels = 4"), ("cells = 5", "cells = 1"), ("n = 1000", "n = 3"),
        ("= 500", "= 40"), ("batch_size = 256", "batch_size = 32"), ("batch_size = 128", "batch_size = 16"),
        ("n_init = 10", "n_init = 3"),
    ):
        assert big in text, big
        text = text.replace(big, small)
    plan = parse_plan(text, registry)
    store = Store.open(plan.output)
    run_id = Runner(plan, registry).run(store)
    rows = store.evaluations(run_id)
    store.close()
    assert {r["evaluator"] for r in rows} == {"naswot", "ridge_rfm", "ridge_loo", "cvu"} and len(rows) == 12
    assert all(r["status"] in ("done", "degenerate") for r in rows), [(r["evaluator"], r["error"]) for r in rows]


def test_the_training_plans_sample_a_prefix_of_the_study_cells(registry):
    """examples/nb201_train*.toml (issue 20) draw the study's first n cells: same seed, dataset,
    space and random sampler, a smaller n, so their results join the study's by id."""
    from rcx.core.samplers import sample

    study = tomli.loads((ROOT / "examples" / "nb201_study.toml").read_text())
    plans = {p.name: tomli.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("nb201_train*.toml"))}
    assert set(plans) >= {"nb201_train_short.toml", "nb201_train_long.toml", "nb201_train_short_gpu.toml"}
    for name, plan in plans.items():
        assert {k: plan[k] for k in ("seed", "dataset", "space")} == {k: study[k] for k in ("seed", "dataset", "space")}
        assert plan["sampler"]["kind"] == "random" and plan["sampler"]["n"] <= 1000, name
    space = registry.get("space", "nb201")(channels=16, cells=5)
    first = [a.id for a in sample(space, "random", 1000, 0)]
    assert [a.id for a in sample(space, "random", 100, 0)] == first[:100]


def test_the_whole_benchmark_gpu_plan_is_the_study_on_every_cell():
    """examples/nb201_all_gpu.toml (issue 21): the study's seed, data, space and evaluator tables
    (NASWOT and the ridge pair, the eight zero-cost proxies) on all 15,625 cells, in the same
    seeded random order, so its first 1,000 are the study's."""
    whole = tomli.loads((ROOT / "examples" / "nb201_all_gpu.toml").read_text())
    study, zerocost = (tomli.loads((ROOT / "examples" / f"{n}.toml").read_text())
                       for n in ("nb201_study", "nb201_study_zerocost"))
    assert {k: whole[k] for k in ("seed", "dataset", "space")} == {k: study[k] for k in ("seed", "dataset", "space")}
    assert whole["sampler"] == {"kind": "random", "n": 15_625} and whole["device"] == "cuda"
    assert whole["evaluators"] == study["evaluators"] | zerocost["evaluators"]


def test_the_whole_benchmark_cpu_plan_is_the_study_on_every_cell_with_shared_gradients():
    """studies/plans/nb201_all_cpu.toml (issue 21): the same as the GPU plan on a CPU, but the
    five gradient proxies read one computation on shared weights; everything else is the study's."""
    whole = tomli.loads((ROOT / "studies" / "plans" / "nb201_all_cpu.toml").read_text())
    study, zerocost = (tomli.loads((ROOT / "examples" / f"{n}.toml").read_text())
                       for n in ("nb201_study", "nb201_study_zerocost"))
    assert {k: whole[k] for k in ("seed", "dataset", "space")} == {k: study[k] for k in ("seed", "dataset", "space")}
    assert whole["sampler"] == {"kind": "random", "n": 15_625} and whole["device"] == "cpu"
    gradient = ("snip", "grad_norm", "grasp", "fisher", "jacov")
    expected = study["evaluators"] | zerocost["evaluators"]
    assert set(whole["evaluators"]) == set(expected)
    for name, table in whole["evaluators"].items():
        assert table == (expected[name] | {"init_seed": "shared"} if name in gradient else expected[name]), name


def test_the_executor_benchmark_slice_is_the_whole_benchmark_plan_on_its_first_cells():
    """benchmarks/nb201_all_slice.toml times executors on the whole-benchmark suite: the CPU
    plan's seed, data, space and evaluator tables, its random sampler with a smaller n (so the
    slice's cells are the whole run's first ones), and another results file."""
    whole = tomli.loads((ROOT / "studies" / "plans" / "nb201_all_cpu.toml").read_text())
    part = tomli.loads((ROOT / "benchmarks" / "nb201_all_slice.toml").read_text())
    same = ("seed", "device", "dataset", "space", "evaluators")
    assert {k: part[k] for k in same} == {k: whole[k] for k in same}
    assert part["sampler"] == {"kind": "random", "n": 20} and part["output"] != whole["output"]
