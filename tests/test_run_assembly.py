"""One assembly of a run (build_runner), one setup (driver and worker), the executor protocol in
rcx.exec, the store reader, and RunContext.plan_seed (issue 24, items 3 and 4)."""

from __future__ import annotations

import warnings

import pytest
import torch

from rcx.api import RunContext
from rcx.core import events as ev
from rcx.core.plan import load_plan
from rcx.core.reader import StoreReader
from rcx.core.runner import ExecutorError, Runner
from rcx.core.setup import prepare_evaluators, set_up
from rcx.core.store import Store, StoreError
from rcx.exec import ExecutionSettings, build_runner
from rcx.exec.in_process import InProcessExecutor
from rcx.exec.worker import EvalWorker

from .conftest import tiny_plan

TIMINGS = ("throughput", "seconds")  # measured, not computed: they differ from run to run


def _untimed(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMINGS}


def _metrics(path):
    store = Store.open_readonly(path)
    try:
        return sorted((e["arch"], e["evaluator"], e["status"], e["seed"], _untimed(e["metrics"]))
                      for e in store.evaluations(1))
    finally:
        store.close()


def test_build_runner_wires_the_executor_and_the_callbacks(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=3), registry)
    events = []
    runner = build_runner(plan, registry, ExecutionSettings(), on_event=events.append)
    assert isinstance(runner.executor, InProcessExecutor) and runner.plan is plan
    store = Store.open(plan.output)
    runner.run(store)
    store.close()
    ends = [type(e) for e in events if isinstance(e, (ev.RunStarted, ev.RunFinished))]
    assert ends == [ev.RunStarted, ev.RunFinished]
    assert sum(isinstance(e, ev.EvalFinished) for e in events) == 3
    with pytest.raises(ExecutorError, match="workers"):
        build_runner(plan, registry, ExecutionSettings(workers=2))
    made = InProcessExecutor()
    assert build_runner(plan, registry, made).executor is made  # an executor made earlier is used as it is


def test_in_process_executor_and_the_runners_own_path_agree(tmp_path, registry):
    """Runner(executor=None) evaluates its tasks itself; InProcessExecutor (rcx.exec) calls that
    same path: the same results file either way."""
    paths = []
    for name, executor in (("own", None), ("exec", InProcessExecutor())):
        plan = load_plan(tiny_plan(tmp_path / name, n=3), registry)
        store = Store.open(plan.output)
        Runner(plan, registry, executor=executor).run(store)
        store.close()
        paths.append(plan.output)
    assert _metrics(paths[0]) == _metrics(paths[1]) and len(_metrics(paths[0])) == 3


def test_a_replaced_on_event_gets_every_event(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=2), registry)
    runner = Runner(plan, registry)
    seen = []
    runner.on_event = seen.append  # set after construction, as the tests and benchmarks do
    store = Store.open(plan.output)
    runner.run(store)
    store.close()
    assert sum(isinstance(e, ev.EvalFinished) for e in seen) == 2
    assert any(isinstance(e, ev.StageProgress) for e in seen)


def test_the_worker_sets_up_as_the_driver_does(tmp_path, registry):
    """The Ray worker (a plain class here) sets the run up with rcx.core.setup, so a task it
    evaluates gives the driver's in-process result."""
    path = tiny_plan(tmp_path, n=2)
    plan = load_plan(path, registry)
    store = Store.open(plan.output)
    Runner(plan, registry).run(store)
    stored = {(e["arch"], e["evaluator"]): e for e in store.evaluations(1)}
    store.close()
    worker = EvalWorker("w0", plan.text, str(path), plan.hash, "cpu", 1)
    assert worker.setup()["device"] == "cpu"
    setup = set_up(plan, registry)
    assert worker.evaluators.keys() == setup.evaluators.keys() and worker.data.shape == setup.data.shape
    from rcx.core.runner import Task

    for (arch, instance), e in stored.items():
        outcome = [m for m in worker.run(Task(0, arch, instance, e["seed"], plan.hash)) if m[0] == "outcome"][-1][1]
        assert outcome.status == e["status"] and _untimed(outcome.metrics) == _untimed(e["metrics"])


def test_prepare_evaluators_hands_the_plan_seed(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=1, seed=7), registry)
    setup = set_up(plan, registry)
    seen = []
    for evaluator in setup.evaluators.values():
        evaluator.prepare = seen.append
    prepare_evaluators(setup, torch.device("cpu"), plan.seed)
    assert [ctx.plan_seed for ctx in seen] == [7]


def test_run_context_seed_is_plan_seed_with_a_deprecation_warning(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=1), registry)
    setup = set_up(plan, registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ctx = RunContext(setup.data, setup.space, torch.device("cpu"), 5)  # positional: no warning
        assert ctx.plan_seed == 5
    with pytest.warns(DeprecationWarning, match="plan_seed"):
        old = RunContext(data=setup.data, space=setup.space, device=torch.device("cpu"), seed=9)
    assert old.plan_seed == 9
    with pytest.warns(DeprecationWarning, match="plan_seed"):
        assert old.seed == 9
    with pytest.raises(TypeError, match="plan_seed"):
        RunContext(setup.data, setup.space, torch.device("cpu"))


def test_store_reader_reads_a_run_and_skips_an_unchanged_one(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=2), registry)
    store = Store.open(plan.output)
    Runner(plan, registry).run(store)
    store.log(1, "info", "a line")
    store.close()
    reader = StoreReader(plan.output)
    reader.check()
    first = reader.read(None, registry)
    assert first.run.id == 1 and first.counts == {"done": 2} and len(first.table.rows) == 2
    assert [line[1:] for line in first.logs] == [("info", "a line")]
    again = reader.read(1, registry, first.sig, len(first.logs))
    assert again.table is None and again.logs == [] and again.sig == first.sig
    assert reader.plan_text() == plan.text
    arch = first.table.rows[0]["arch"]
    detail = reader.detail(None, arch)
    assert detail.candidate["arch"] == arch and [e["evaluator"] for e in detail.evaluations] == ["ridge_rfm"]
    missing = StoreReader(tmp_path / "none.db")
    assert missing.plan_text() is None
    with pytest.raises(StoreError):
        missing.read(None, registry)
    with pytest.raises(StoreError):
        missing.check()
