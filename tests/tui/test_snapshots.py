"""SVG snapshots of every screen at 100x30 (and the Run screen at 80x24).

Screens show a results file with fixed metrics so the pictures do not depend on timings.
Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the report; the snapshots are tied to the pinned Textual version (pyproject).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rcx.tui.app import RcxApp
from rcx.tui.widgets.results_grid import ResultsGrid

from .conftest import fixed_results, synthetic_results, wait_for

pytest.importorskip("pytest_textual_snapshot")


@pytest.fixture
def results_app(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    fixed_results(tmp_path / "results.db", registry)
    return RcxApp(registry, db_path=Path("results.db"))


async def _table_loaded(pilot):
    await wait_for(pilot, lambda: pilot.app.table is not None, what="the results")
    await pilot.pause(0.3)


def test_plan_screen(snap_compare, registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(RcxApp(registry), terminal_size=(100, 30))


def test_results_screen(snap_compare, results_app):
    async def ready(pilot):
        await _table_loaded(pilot)
        await wait_for(pilot, lambda: pilot.app.screen.query_one(ResultsGrid).row_count == 12, what="the table")

    assert snap_compare(results_app, terminal_size=(100, 30), run_before=ready)


async def _run_screen(pilot):
    await _table_loaded(pilot)
    await pilot.press("f3")
    await pilot.pause(0.6)


def test_run_screen(snap_compare, results_app):
    assert snap_compare(results_app, terminal_size=(100, 30), run_before=_run_screen)


def test_run_screen_80x24(snap_compare, results_app):
    assert snap_compare(results_app, terminal_size=(80, 24), run_before=_run_screen)


def test_detail_screen(snap_compare, results_app):
    async def ready(pilot):
        await _table_loaded(pilot)
        await wait_for(pilot, lambda: pilot.app.screen.query_one(ResultsGrid).row_count == 12, what="the table")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "shown", None) is not None, what="the detail")
        await pilot.pause(0.2)

    assert snap_compare(results_app, terminal_size=(100, 30), run_before=ready)


def test_help_screen(snap_compare, results_app):
    async def ready(pilot):
        await _table_loaded(pilot)
        await pilot.press("f1")
        await pilot.pause(0.2)

    assert snap_compare(results_app, terminal_size=(100, 30), run_before=ready)


def test_correlation_view(snap_compare, registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    synthetic_results(tmp_path / "results.db", registry, n=60)

    async def ready(pilot):
        await _table_loaded(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#view-corr").report is not None, what="the report")
        await pilot.pause(0.3)

    assert snap_compare(RcxApp(registry, db_path=Path("results.db")), terminal_size=(100, 30), run_before=ready)
