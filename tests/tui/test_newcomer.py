"""The TUI as a newcomer met it (issue 23): one Pilot test per defect, each failing before its fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Label, Static
from textual.widgets._toast import Toast

from rcx.tui.app import RcxApp
from rcx.tui.screens.detail import DetailScreen
from rcx.tui.widgets.charts import ColourKey, key_text
from rcx.tui.widgets.results_grid import ID_WIDTH, PENDING, ResultsGrid

from .conftest import fixed_results, settle, sync, wait_for


def nb201_results(path: Path, registry, n: int = 12) -> Path:
    """A finished results file of ``n`` NAS-Bench-201 cells (ids of 80-odd characters) scored
    by ``cvu``, written with the Store API."""
    from rcx.core.plan import parse_plan
    from rcx.core.store import Store

    text = (f'name = "cells"\nseed = 0\ndevice = "cpu"\noutput = "{path}"\n'
            '[dataset]\nname = "synthetic"\nimage_size = 16\n'
            '[space]\nname = "nb201"\nchannels = 4\ncells = 1\n[sampler]\nkind = "random"\nn = 12\n[evaluators.cvu]\n')
    plan = parse_plan(text, registry)
    space = registry.get("space", "nb201")(channels=4, cells=1)
    archs = [space.arch_at(i * 1301) for i in range(n)]
    infos = [space.describe(a, (3, 16, 16)) for a in archs]
    store = Store.open(path)
    run_id = store.create_run(name=plan.name, plan_text=text, plan=plan.normalized(), plan_hash=plan.hash,
                              versions={"rcx": "test"}, device="cpu", device_name="cpu (test)",
                              dataset={"name": "synthetic", "shape": [3, 16, 16]})
    store.add_candidates(run_id, ((i, a.id, a.params, inf.summary(), inf.valid, inf.reason)
                                  for i, (a, inf) in enumerate(zip(archs, infos))))
    for i, a in enumerate(archs):
        store.finish_evaluation(run_id, a.id, "cvu", "done", metrics={"cv_u": 0.01 * (i + 1), "mean_acc": 0.1},
                                seed=i, seconds=0.1)
    store.set_run_state(run_id, "finished")
    store.close()
    return path


def _lines(widget) -> list[str]:
    """The text lines ``widget`` draws at its size."""
    return [strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))]


@sync
async def test_following_a_resumed_run_shows_only_its_current_session(tmp_path, registry):
    """An earlier session's "run cancelled" is not news while another process runs the plan again."""
    from rcx.core.store import Store

    path = fixed_results(tmp_path / "r.db", registry, running=True)
    store = Store.open(path)
    run = store.run()
    store.log(run.id, "info", "first session's start")
    store.log(run.id, "warning", "run cancelled; run the same plan again to resume")
    store.set_run_state(run.id, "interrupted")
    time.sleep(0.01)  # the resuming process, later
    store.set_run_state(run.id, "running")
    store.log(run.id, "info", "resuming: 2 unfinished evaluation(s) will run again")
    store.close()
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot)
        assert app.progress.state == "following"
        messages = [m for _, m in app.log_lines]
        assert "resuming: 2 unfinished evaluation(s) will run again" in messages
        assert not any("cancelled" in m or "first session" in m for m in messages), messages


@sync
async def test_a_finished_file_shows_its_whole_log(tmp_path, registry):
    """Not following: the file's history, "run cancelled" included, as it happened."""
    from rcx.core.store import Store

    path = fixed_results(tmp_path / "r.db", registry)
    store = Store.open(path)
    store.log(store.run().id, "warning", "run cancelled; run the same plan again to resume")
    store.close()
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert any("run cancelled" in m for _, m in app.log_lines)


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
@sync
async def test_long_ids_are_cut_in_the_table_and_whole_in_the_detail(tmp_path, registry, size):
    path = nb201_results(tmp_path / "r.db", registry)
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(ResultsGrid)
        ids = [r["arch"] for r in app.table.rows]
        assert min(len(a) for a in ids) > ID_WIDTH
        arch_column = grid.columns["arch"]
        assert arch_column.content_width <= ID_WIDTH
        status_x = sum(c.get_render_width(grid) for c in grid.ordered_columns[:1])
        assert status_x + grid.columns["cvu.status"].get_render_width(grid) <= size[0]  # the status on screen
        for arch in ids:
            cell = grid.get_cell(arch, "arch")
            assert len(cell) == ID_WIDTH and "…" in cell
            head, _, tail = cell.partition("…")
            assert arch.startswith(head) and arch.endswith(tail)
        first = grid.visible_rows()[0]["arch"]
        await pilot.press("r")  # sorting still orders by the whole ids' rows
        await settle(pilot)
        assert grid.visible_rows()[-1]["arch"] == first
        grid.move_cursor(row=0, animate=False)
        chosen = grid.visible_rows()[0]["arch"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown is not None,
                       what="the detail")
        label = app.screen.query_one(Label)
        assert label.region.right <= size[0]
        assert chosen in "".join(_lines(label)).replace(" ", ""), _lines(label)


@sync
async def test_the_colour_key_keeps_each_bullet_with_its_label(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry, n=20))
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        key = app.screen.query_one("#scatter-key", ColourKey)
        assert len(key.entries) >= 3
        lines = [line.strip() for line in _lines(key) if line.strip()]
        drawn = " ".join(lines)
        assert lines[0].startswith("colour: ratio") and len(lines) > 1  # it needed more than one line here
        assert all(not line.endswith("●") for line in lines), lines
        for _, label in key.entries:
            assert f"● {label}" in drawn, (label, lines)
    text = key_text("colour: ratio", [("blue", "0.0104-0.0417"), ("green", "0.0417-0.167")], 20)
    assert text.plain.split("\n") == ["colour: ratio", "● 0.0104-0.0417", "● 0.0417-0.167"]


@sync
async def test_at_80x24_no_toast_covers_the_log_and_the_status_line_fits(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        status = app.screen.query_one("#results-status", Static)
        assert status.size.height == 1, _lines(status)
        line = _lines(status)[0]
        assert "12 of 12 rows" in line and "sorted by" in line and not line.endswith("…"), line

        await pilot.press("f3")
        await settle(pilot)
        app.add_log("info", "run 1 finished in 3.0 s: done 12", notify=True)  # in the log on this screen
        await pilot.pause()
        assert not app._notifications
        app.add_log("error", "an evaluation failed: RuntimeError: boom")  # errors still raise one
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)), timeout=60, what="the toast")
        await pilot.pause()
        log = app.screen.query_one("#run-log")
        for toast in app.screen.query(Toast):
            assert not toast.region.overlaps(log.region), (toast.region, log.region)
        await pilot.press("f4")
        await settle(pilot)
        app.add_log("info", "run 2 finished in 3.0 s: done 12", notify=True)  # elsewhere: a toast says so
        await wait_for(pilot, lambda: any("run 2 finished" in n.message for n in app._notifications), timeout=60,
                       what="the notification")


@sync
async def test_pending_rows_say_pending(tmp_path, registry):
    app = RcxApp(registry, db_path=fixed_results(tmp_path / "r.db", registry, running=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(ResultsGrid)
        pending = [r["arch"] for r in app.table.rows if r["ridge_rfm.status"] is None]
        assert len(pending) == 2
        assert all(grid.get_cell(a, "ridge_rfm.status") == PENDING for a in pending)
        done = [r["arch"] for r in app.table.rows if r["ridge_rfm.status"] == "done"]
        assert all(grid.get_cell(a, "ridge_rfm.status") == "done" for a in done)


def test_the_process_ends_as_soon_as_the_app_has_closed(monkeypatch):
    """ctrl+q, Yes: the run stopped in 0.3 s, then the interpreter's teardown of torch took
    seconds. After the app closes, the exit handlers run and the process ends at once."""
    import rcx.tui as tui

    calls: list[str] = []

    class Ended(Exception):
        pass

    def fake_exit(code: int) -> None:
        calls.append(f"_exit {code}")
        raise Ended

    monkeypatch.setattr(RcxApp, "run", lambda self: calls.append("run"))
    monkeypatch.setattr(RcxApp, "return_code", property(lambda self: 3))
    monkeypatch.setattr("atexit._run_exitfuncs", lambda: calls.append("atexit"))
    monkeypatch.setattr("os._exit", fake_exit)
    with pytest.raises(Ended):
        tui.main(None)
    assert calls == ["run", "atexit", "_exit 3"]
