"""The Plan screen's execution section (not part of the plan) and the Run screen's workers."""

from __future__ import annotations

from rcx.core import events as ev
from rcx.exec import ExecutionSettings
from rcx.tui.app import RcxApp
from rcx.tui.forms import PlanDraft, execution_settings
from rcx.tui.messages import RunEvent
from rcx.tui.widgets.option_form import field_id

from ..conftest import tiny_plan
from .conftest import fixed_results, settle, sync, wait_for


def _status(app) -> str:
    return str(app.screen.query_one("#plan-status").render())


def test_execution_values_become_settings():
    assert execution_settings({}) == (ExecutionSettings(), [])
    assert execution_settings({"executor": "in-process", "workers": 3})[0] == ExecutionSettings()  # ignored in-process
    settings, problems = execution_settings({"executor": "ray", "workers": 2, "gpus_per_worker": 0,
                                             "address": " auto "})
    assert problems == [] and settings == ExecutionSettings("ray", address="auto", workers=2, gpus_per_worker=0.0)
    settings, problems = execution_settings({"executor": "ray", "workers": "two", "threads_per_worker": 0})
    assert settings is None
    assert {p.path for p in problems} == {"execution.workers", "execution"}


@sync
async def test_plan_form_sets_execution_without_changing_the_plan(tmp_path, registry):
    path = tiny_plan(tmp_path, n=2)
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text,
                 execution=ExecutionSettings("ray", workers=2, cpus_per_worker=1.0))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "plan ok" in _status(app), what="validation")
        assert "ray (local), 2 workers" in _status(app)  # filled from rcx run PLAN --executor ray --workers 2
        hash_before = app.draft.validate(registry)[0].hash
        workers = app.screen.query_one(f"#{field_id('execution.workers')}")
        workers.value = "0"
        await wait_for(pilot, lambda: "problem" in _status(app), what="the check")
        assert "workers 0" in _status(app)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert not app.running  # refused until fixed
        workers.value = "3"
        await wait_for(pilot, lambda: "plan ok" in _status(app), what="the check")
        assert app.execution == ExecutionSettings("ray", workers=3)
        assert app.draft.validate(registry)[0].hash == hash_before  # not part of the plan
        assert "workers" not in app.draft.to_toml()


@sync
async def test_run_screen_lists_workers(tmp_path, registry):
    db = fixed_results(tmp_path / "r.db", registry, running=True)
    app = RcxApp(registry, db_path=db)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        box = app.screen.query_one("#run-workers")
        assert not box.display  # in-process: no worker lines
        app.post_message(RunEvent(ev.Workers((
            ev.WorkerInfo("w1", "node-a", "cuda:0 (GPU 0)", "k3-3-3_s1-1-1_d1-1-1 / ridge_rfm", 5),
            ev.WorkerInfo("w2", "node-b", "cpu", "", 7),
            ev.WorkerInfo("w3", "node-b", "", "", 0, "lost"),
        ))))
        await wait_for(pilot, lambda: box.display and "node-b" in str(box.render()), what="the workers")
        text = str(box.render())
        assert "w1" in text and "node-a" in text and "k3-3-3_s1-1-1_d1-1-1 / ridge_rfm" in text
        assert "w2" in text and "idle" in text and "7 done" in text and "lost" in text


@sync
async def test_tui_runs_a_plan_on_ray(tmp_path, registry):
    """The Plan screen's execution section to a finished Ray run, the workers on the Run screen
    (Ray starts inside the TUI, whose captured stdout/stderr have no file descriptors)."""
    import pytest

    pytest.importorskip("ray")
    path = tiny_plan(tmp_path, n=3)
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text, execution=ExecutionSettings("ray", workers=1))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "plan ok" in _status(app), what="validation")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.progress.state in ("finished", "failed", "cancelled"), what="the run")
        assert app.progress.state == "finished", app.log_lines
        assert app.progress.done == 3 and app.progress.workers[0].done == 3
        await wait_for(pilot, lambda: "3 done" in _workers_shown(app), what="the workers on the Run screen")


def _workers_shown(app) -> str:
    """The Run screen's worker lines, or "" while that screen is not (yet) the current one."""
    try:
        return str(app.screen.query_one("#run-workers").render())
    except Exception:
        return ""


@sync
async def test_the_execution_form_has_a_field_per_declared_option(tmp_path, registry):
    """The execution section is made from ``EXECUTION_OPTIONS``: an option added there is a field."""
    from rcx.api.options import Option
    from rcx.exec.settings import EXECUTION_OPTIONS

    new = Option("brand_new", int, None, "a setting added to the declaration", min=1)
    EXECUTION_OPTIONS.append(new)
    try:
        path = tiny_plan(tmp_path, n=2)
        app = RcxApp(registry, PlanDraft.from_toml(path.read_text(), path), path.read_text())
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: "plan ok" in _status(app), what="validation")
            await settle(pilot)  # the device listing done too
            for option in EXECUTION_OPTIONS:
                assert app.screen.query(f"#{field_id('execution.' + option.name)}"), option.name
    finally:
        EXECUTION_OPTIONS.remove(new)


def test_every_setting_round_trips_through_the_form():
    from rcx.tui.forms import execution_values

    settings = ExecutionSettings("ray", address="auto", workers=2, gpus_per_worker=0.5, cpus_per_worker=2.0,
                                 threads_per_worker=3, worker_timeout=30.0)
    assert execution_settings(execution_values(settings)) == (settings, [])
    assert execution_settings(execution_values(ExecutionSettings())) == (ExecutionSettings(), [])
