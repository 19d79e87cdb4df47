"""The Plan screen's device selector: auto and cpu at once, the CUDA devices from a worker after
the first frame (listing them imports torch), the selection kept."""

from __future__ import annotations

from textual.widgets import Select

from rcx.tui import forms
from rcx.tui.app import RcxApp
from rcx.tui.screens.plan import PlanScreen

from .conftest import settle, sync, wait_for


def _options(app: RcxApp) -> list[str]:
    select = app.screen.query_one("#pick-device", Select)
    return [value for _, value in select._options]


@sync
async def test_cuda_devices_arrive_after_the_first_screen(registry, monkeypatch):
    monkeypatch.setattr(forms, "cuda_devices", lambda: [("cuda:0 Fake GPU", "cuda:0"), ("cuda:1 Fake GPU", "cuda:1")])
    app = RcxApp(registry)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="plan screen")
        await settle(pilot)
        assert app.cuda_devices == [("cuda:0 Fake GPU", "cuda:0"), ("cuda:1 Fake GPU", "cuda:1")]
        assert _options(app) == ["auto", "cpu", "cuda:0", "cuda:1"]
        assert app.screen.query_one("#pick-device", Select).value == "auto"
        assert app.screen.collect().device == "auto"


@sync
async def test_a_plan_device_stays_selected_when_the_devices_arrive(registry, monkeypatch):
    monkeypatch.setattr(forms, "cuda_devices", lambda: [("cuda:0 Fake GPU", "cuda:0")])
    app = RcxApp(registry, forms.PlanDraft(device="cuda:3"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.cuda_devices != [], what="devices listed")
        await settle(pilot)
        assert _options(app) == ["auto", "cpu", "cuda:0", "cuda:3"]
        assert app.screen.collect().device == "cuda:3"


@sync
async def test_without_cuda_the_selector_keeps_auto_and_cpu(registry, monkeypatch):
    monkeypatch.setattr(forms, "cuda_devices", lambda: [])
    app = RcxApp(registry)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert _options(app) == ["auto", "cpu"]
