"""SVG snapshots of every screen at 100x30, and of Run, Results, Detail and Correlation at 80x24
(the standard terminal).

Screens show a results file with fixed metrics, and every snapshot is taken once the app says
its screen shows its current state (:func:`settle`, on :meth:`RcxApp.is_settled`), never after
a sleep, so the pictures depend neither on timings nor on the machine's load. Update after an
intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
report; the snapshots are tied to the pinned Textual version (pyproject).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rcx.tui.app import RcxApp

from .conftest import fixed_results, settle, synthetic_results, wait_for

pytest.importorskip("pytest_textual_snapshot")

SIZES = {"100x30": (100, 30), "80x24": (80, 24)}


@pytest.fixture
def results_app(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    fixed_results(tmp_path / "results.db", registry)
    return RcxApp(registry, db_path=Path("results.db"))


def test_plan_screen(snap_compare, registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap_compare(RcxApp(registry), terminal_size=(100, 30), run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_results_screen(snap_compare, results_app, size):
    assert snap_compare(results_app, terminal_size=SIZES[size], run_before=settle)


async def _run_screen(pilot):
    await settle(pilot)
    await pilot.press("f3")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_run_screen(snap_compare, results_app, size):
    assert snap_compare(results_app, terminal_size=SIZES[size], run_before=_run_screen)


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen(snap_compare, results_app, size):
    async def ready(pilot):
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "shown", None) is not None, what="the detail")
        await settle(pilot)

    assert snap_compare(results_app, terminal_size=SIZES[size], run_before=ready)


def test_help_screen(snap_compare, results_app):
    async def ready(pilot):
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(results_app, terminal_size=(100, 30), run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_correlation_view(snap_compare, registry, tmp_path, monkeypatch, size):
    monkeypatch.chdir(tmp_path)
    synthetic_results(tmp_path / "results.db", registry, n=60)

    async def ready(pilot):
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(RcxApp(registry, db_path=Path("results.db")), terminal_size=SIZES[size], run_before=ready)
