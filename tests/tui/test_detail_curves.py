"""The Detail view draws a finished candidate's learning curve (issue 20)."""

from __future__ import annotations

import io

from rich.console import Console

from rcx.core.store import Store
from rcx.tui.app import RcxApp
from rcx.tui.screens.detail import DetailScreen

from .conftest import fixed_results, settle, sync, wait_for


@sync
async def test_detail_shows_the_learning_curve(tmp_path, registry):
    path = fixed_results(tmp_path / "r.db", registry, n=3)
    store = Store.open(path)
    archs = [c["arch"] for c in store.candidates(1)]
    for step, epoch, loss, acc in ((5, 1.0, 2.2, 0.25), (10, 2.0, 1.8, 0.375)):
        for arch in archs:
            store.add_curve_point(1, arch, "ridge_rfm", step, epoch, {"train_loss": loss, "val_acc": acc})
    store.close()
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown is not None,
                       what="the detail")
        console = Console(record=True, width=100, file=io.StringIO())
        console.print(app.screen.shown)
        body = console.export_text()
    assert "ridge_rfm: 2 epoch point(s), val_acc 0.3750" in body
    assert "ridge_rfm train_loss" in body and "ridge_rfm val_acc" in body and "epoch" in body


def _curve_lines(app) -> list[str]:
    """The detail's lines as its body draws them (at the body's own width)."""
    from textual.widgets import Static

    body = app.screen.query_one("#detail-body", Static)
    console = Console(record=True, width=body.content_size.width, file=io.StringIO())
    console.print(app.screen.shown)
    return console.export_text().splitlines()


@sync
async def test_the_curve_fits_the_detail_at_80_columns_and_widens_with_it(tmp_path, registry):
    """At 80x24 a 76-column plot wrapped inside the dialog's 74-column body (the right axis
    fell onto the next line); the plot follows the dialog's width."""
    path = fixed_results(tmp_path / "r.db", registry, n=3)
    store = Store.open(path)
    arch = store.candidates(1)[0]["arch"]
    store.add_curve_point(1, arch, "ridge_rfm", 5, 1.0, {"train_loss": 2.2, "val_acc": 0.25})
    store.close()
    app = RcxApp(registry, db_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_detail(arch)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown is not None,
                       what="the detail")
        await settle(pilot)
        assert _whole_frame(_curve_lines(app)), "\n".join(_curve_lines(app))
        narrow = _frame_width(_curve_lines(app))
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: _frame_width(_curve_lines(app)) > narrow, what="a wider curve")
        assert _whole_frame(_curve_lines(app))


def _whole_frame(lines: list[str]) -> bool:
    """The plot's frame is drawn unwrapped: its corners and axis names each on one line."""
    return all(any(a in line and b in line for line in lines) for a, b in (("┌", "┐"), ("└", "┘"),
                                                                          ("train_loss", "val_acc")))


def _frame_width(lines: list[str]) -> int:
    return max(len(line.strip()) for line in lines if "┌" in line)
