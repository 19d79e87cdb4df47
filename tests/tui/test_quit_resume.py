"""Quitting during a run says the exact command that resumes it; a run opened from its results
file resumes from that file alone."""

from __future__ import annotations

from textual.widgets import Label

from rcx.tui.app import RcxApp, draft_from_results, quit_prompt
from rcx.tui.forms import PlanDraft

from ..conftest import tiny_plan
from ..test_sampler_ids import _ids_run_in_two_folders, _rows
from .conftest import sync, wait_for


def test_the_prompt_quotes_a_path_with_spaces(tmp_path):
    prompt = quit_prompt(tmp_path / "my runs" / "x.db")
    assert f"rcx run --headless '{tmp_path}/my runs/x.db'" in prompt


@sync
async def test_the_quit_dialog_names_the_resume_command(tmp_path, registry):
    path = tiny_plan(tmp_path, n=30)
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.action_start_run()
        app.action_toggle_pause()  # keeps the tiny run going for as long as the test needs
        await wait_for(pilot, lambda: app.run_id is not None, what="the run to start")
        await pilot.press("ctrl+q")
        prompt = str(app.screen.query_one(".dialog-prompt", Label).render())
        assert f"rcx run --headless {tmp_path / 'results.db'}" in prompt
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.running, what="the worker to stop")
    assert f"resume with: rcx run --headless {tmp_path / 'results.db'}" in (tmp_path / "results.log").read_text()


def test_a_draft_from_results_keeps_the_ids_its_file_held_while_the_file_is_the_same(
        registry, tmp_path, monkeypatch):
    plan, db, ids, _ = _ids_run_in_two_folders(tmp_path, registry, monkeypatch)
    loaded = draft_from_results(db)
    assert loaded is not None
    draft = loaded[0]
    assert draft.file_ids == ("top.csv", ids)
    again, problems = draft.validate(registry)  # top.csv here would be ./top.csv or B/top.csv: neither is read
    assert problems == [] and again is not None and again.sampler["ids"] == ids and again.output == db
    draft.sampler["file"] = "other.csv"  # the user names another file: that one is read
    again, problems = draft.validate(registry)
    assert again is None and [p.path for p in problems] == ["sampler.file"] and "cannot read" in problems[0].message


@sync
async def test_a_run_opened_from_its_results_file_resumes_without_its_ids_file(registry, tmp_path, monkeypatch):
    plan, db, ids, kept = _ids_run_in_two_folders(tmp_path, registry, monkeypatch)
    (plan.parent / "top.csv").unlink()
    app = RcxApp(registry, db_path=db)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await pilot.press("ctrl+r")
        refused = lambda: [n.message for n in app._notifications if n.severity == "error"]  # noqa: E731
        await wait_for(pilot, lambda: app.progress.state == "finished" or refused(), what="the resumed run")
        assert not refused() and app.run_id == 1
    rows = _rows(db)
    assert sorted(r[0] for r in rows) == sorted(ids) and set(kept) <= set(rows)
