"""``rcx.core.session.run_plan``: the open/check/setup/run sequence the CLI and the TUI share."""

from __future__ import annotations

import pytest

from rcx.core.plan import load_plan
from rcx.core.runner import PlanMismatch, Runner
from rcx.core.session import RUN_ERRORS, run_plan
from rcx.core.store import Store, StoreError

from .conftest import tiny_plan


def _runner(path, registry, events=None) -> Runner:
    plan = load_plan(path, registry)
    return Runner(plan, registry) if events is None else Runner(plan, registry, on_event=events.append)


def test_runs_then_resumes_without_recomputing(tmp_path, registry):
    path = tiny_plan(tmp_path, n=2, trials=1)
    first = run_plan(_runner(path, registry))
    events: list = []
    assert run_plan(_runner(path, registry, events)) == first
    assert not [e for e in events if type(e).__name__ == "EvalFinished"]
    store = Store.open_readonly(load_plan(path, registry).output)
    try:
        assert {e["state"] for e in store.evaluations(first)} == {"done"}
    finally:
        store.close()


def test_a_bad_results_file_fails_before_the_dataset_loads(tmp_path, registry, monkeypatch):
    """Open comes first: a results path that is a folder fails without setting anything up."""
    folder = tmp_path / "out.db"
    folder.mkdir()
    runner = _runner(tiny_plan(tmp_path, output=str(folder)), registry)
    monkeypatch.setattr(runner, "setup", lambda: pytest.fail("setup ran before the results file was opened"))
    with pytest.raises(StoreError, match="is a folder"):
        run_plan(runner)


def test_another_plans_file_is_refused_unless_a_new_run_is_asked_for(tmp_path, registry):
    out = str(tmp_path / "shared.db")
    run_plan(_runner(tiny_plan(tmp_path / "a", n=1, trials=1, output=out), registry))
    other = tiny_plan(tmp_path / "b", n=1, trials=1, seed=5, output=out)
    with pytest.raises(PlanMismatch) as caught:
        run_plan(_runner(other, registry))
    assert isinstance(caught.value, RUN_ERRORS)
    assert run_plan(_runner(other, registry), new_run=True) == 2
