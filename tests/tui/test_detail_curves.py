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
