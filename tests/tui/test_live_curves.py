"""Learning curves stream into the TUI while a training evaluator runs (issue 20): the Run
screen and the Detail view show the curve growing, from CurvePoint events, before the
evaluation has finished."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from rcx.api.evaluator import EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric
from rcx.core import events as ev
from rcx.plugins import load_registry
from rcx.tui.app import RcxApp
from rcx.tui.forms import PlanDraft
from rcx.tui.screens.detail import DetailScreen, merge_curves
from rcx.tui.state import LiveCurves

from ..conftest import tiny_plan
from .conftest import sync, wait_for


class Stepped(Evaluator):
    """A "training" evaluator whose epochs wait for tokens: each evaluation reports one curve
    point per token (``Stepped.tokens.release()``), three in all, so a test sees the curve at
    every length whatever the machine's speed."""

    name = "stepped"
    metrics = [Metric("val_acc", "accuracy", higher_is_better=True, help="last validation accuracy")]
    tokens = threading.Semaphore(0)
    EPOCHS = 3

    def evaluate(self, ctx):
        for epoch in range(1, self.EPOCHS + 1):
            while not Stepped.tokens.acquire(timeout=0.02):
                ctx.check_cancel()
            ctx.curve(epoch * 10, float(epoch), {"train_loss": 3.0 - epoch, "val_acc": 0.125 * epoch})
        return EvalResult("done", {"val_acc": 0.125 * self.EPOCHS})


def _registry():
    class Plugin:
        @staticmethod
        @hookimpl
        def rcx_register_evaluators(register):
            register(Stepped)

    return load_registry([(Plugin, "rcx-stepped")])


def _text(renderable) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_live_curves_fold_points_and_drop_a_restarted_curve():
    live = LiveCurves(limit=2)
    assert not live.apply(ev.EvalStarted("a", "t"))  # nothing to drop
    for arch in ("a", "b", "c"):
        assert live.apply(ev.CurvePoint(arch, "t", 10, 1.0, {"val_acc": 0.5}))
    assert list(live.curves) == [("b", "t"), ("c", "t")] and live.latest == ("c", "t")  # the oldest went
    live.apply(ev.CurvePoint("b", "t", 20, 2.0, {"val_acc": 0.75}))
    assert live.of("b") == {"t": [{"step": 10, "epoch": 1.0, "val_acc": 0.5},
                                  {"step": 20, "epoch": 2.0, "val_acc": 0.75}]}
    version = live.version
    assert live.apply(ev.EvalStarted("b", "t")) and live.of("b") == {} and live.version == version + 1
    assert merge_curves({"t": [{"epoch": 1.0}]}, {"t": [{"epoch": 1.0}, {"epoch": 2.0}]})["t"][-1] == {"epoch": 2.0}
    assert merge_curves({"t": [{"epoch": 1.0}, {"epoch": 2.0}]}, {"t": []})["t"] == [{"epoch": 1.0}, {"epoch": 2.0}]


@sync
async def test_run_screen_and_detail_show_the_curve_growing(tmp_path):
    registry = _registry()
    Stepped.tokens = threading.Semaphore(0)
    path = tiny_plan(tmp_path, n=2, extra="[evaluators.stepped]\n")
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(110, 44)) as pilot:
        try:
            app.screen.action_start_run()
            await wait_for(pilot, lambda: app.run_id is not None, what="the run to start")
            box = app.screen.query_one("#run-curve")
            assert not box.display  # no curve yet: the panel takes no room

            def curve_on_screen(points: int) -> bool:
                return box.display and f"{points} epoch point(s)" in str(box.render())

            Stepped.tokens.release()
            await wait_for(pilot, lambda: curve_on_screen(1), what="the first curve point on the Run screen")
            arch, evaluator = app.live_curves.latest
            assert evaluator == "stepped" and app.progress.state == "running"
            assert f"{arch} / stepped" in str(box.render())
            Stepped.tokens.release()
            await wait_for(pilot, lambda: curve_on_screen(2), what="the curve to grow on the Run screen")
            assert app.progress.done < app.progress.total  # still running: the points came live

            app.open_detail(arch)
            detail = app.screen
            assert isinstance(detail, DetailScreen)
            await wait_for(pilot, lambda: detail.shown is not None and "2 epoch point(s)" in _text(detail.shown),
                           what="the live curve in the detail")
            Stepped.tokens.release()
            await wait_for(pilot, lambda: "3 epoch point(s), val_acc 0.3750" in _text(detail.shown),
                           what="the curve to grow in the detail")
            body = _text(detail.shown)
            assert "stepped train_loss" in body and "stepped val_acc" in body
            await pilot.press("escape")
            Stepped.tokens.release(3 * 4)  # the rest of the run goes through
            await wait_for(pilot, lambda: app.progress.state == "finished", what="the run to finish")
        finally:  # a failed check must not leave the run worker waiting for tokens
            app.cancel_event.set()
            Stepped.tokens.release(100)


@sync
async def test_at_80x24_the_live_curve_takes_the_charts_place_and_the_log_stays(tmp_path):
    """Below the charts, a 10-row curve pushed the charts and the log off an 80x24 screen (and
    its lines wrapped there); now it takes the charts' place, ``v`` switches, and the "now:"
    line keeps the evaluator's name."""
    from rcx.tui.widgets.charts import Charts

    registry = _registry()
    Stepped.tokens = threading.Semaphore(0)
    path = tiny_plan(tmp_path, n=2, extra="[evaluators.stepped]\n")
    text = path.read_text()
    app = RcxApp(registry, PlanDraft.from_toml(text, path), text)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            app.screen.action_start_run()
            await wait_for(pilot, lambda: app.run_id is not None, what="the run to start")
            screen = app.screen
            box, charts, log = (screen.query_one(s) for s in ("#run-curve", Charts, "#run-log"))
            Stepped.tokens.release()
            await wait_for(pilot, lambda: box.display and "1 epoch point(s)" in str(box.render()),
                           what="the first curve point")
            await pilot.pause()
            assert not charts.display
            assert log.region.height > 0 and log.region.bottom <= 23  # above the footer, on the screen
            lines = str(box.render()).splitlines()
            assert any("┌" in line and "┐" in line for line in lines)  # the frame on one line: not wrapped
            assert "/ stepped" in str(screen.query_one("#run-title").render())
            await pilot.press("v")
            await wait_for(pilot, lambda: charts.display and not box.display, what="the charts after v")
            for _ in range(3):  # scatter, histogram, best so far, then the curve again
                await pilot.press("v")
            await wait_for(pilot, lambda: box.display and not charts.display, what="the curve again")
            Stepped.tokens.release(3 * 4)  # the rest of the run goes through
            await wait_for(pilot, lambda: app.progress.state == "finished", what="the run to finish")
        finally:  # a failed check must not leave the run worker waiting for tokens, nor running
            app.cancel_event.set()
            Stepped.tokens.release(100)
            await wait_for(pilot, lambda: not app.running, what="the run to stop")
