"""The runner's pause hook: while ``pause`` is set no evaluation starts; cancel ends the wait.

No sleeps and no clocks: the pause event below reports when the runner has seen it set, which
happens only inside the runner's wait between evaluations, so the tests act on that signal.
"""

from __future__ import annotations

import threading

from rcx.core import events as ev
from rcx.core.plan import load_plan
from rcx.core.runner import Runner
from rcx.core.store import Store

from .conftest import tiny_plan

HANG_GUARD = 300.0  # seconds; only a stuck runner ever reaches it


class WatchedPause(threading.Event):
    """A pause event that signals ``held`` once the runner has found it set."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()

    def is_set(self) -> bool:
        value = super().is_set()
        if value:
            self.held.set()
        return value


def test_pause_holds_between_evaluations_and_resumes(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=3), registry)
    pause = WatchedPause()
    log: list[str] = []  # the runner's events and the test's own steps, in the order they happened

    def on_event(e):
        if isinstance(e, (ev.EvalStarted, ev.EvalFinished)):
            log.append(type(e).__name__)
            if len(log) == 2:  # the first evaluation finished: pause before the second starts
                pause.set()

    store = Store.open(plan.output)
    runner = Runner(plan, registry, on_event=on_event, pause=pause)
    thread = threading.Thread(target=runner.run, args=(store,))
    thread.start()
    assert pause.held.wait(HANG_GUARD), "the runner never reached its wait between evaluations"
    log.append("resume")
    pause.clear()
    thread.join(HANG_GUARD)
    assert not thread.is_alive()
    assert log == ["EvalStarted", "EvalFinished", "resume"] + ["EvalStarted", "EvalFinished"] * 2
    assert store.counts(1) == {"done": 3}
    store.close()


def test_cancel_ends_a_pause_without_unpausing(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=3), registry)
    pause, cancel = WatchedPause(), threading.Event()
    pause.set()
    started: list[ev.EvalStarted] = []
    store = Store.open(plan.output)
    runner = Runner(plan, registry, cancel=cancel, pause=pause,
                    on_event=lambda e: started.append(e) if isinstance(e, ev.EvalStarted) else None)
    runner.setup()
    thread = threading.Thread(target=runner.run, args=(store,))
    thread.start()
    assert pause.held.wait(HANG_GUARD), "the runner never reached its wait between evaluations"
    cancel.set()
    thread.join(HANG_GUARD)
    assert not thread.is_alive() and pause.is_set()  # the wait ended on cancel alone
    assert not started and store.counts(1) == {} and store.run(1).state == "interrupted"
    store.close()
