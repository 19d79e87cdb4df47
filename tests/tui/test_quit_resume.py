"""Quitting during a run says the exact command that resumes it."""

from __future__ import annotations

from textual.widgets import Label

from rcx.tui.app import RcxApp, quit_prompt
from rcx.tui.forms import PlanDraft

from ..conftest import tiny_plan
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
