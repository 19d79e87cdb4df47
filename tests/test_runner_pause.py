"""The runner's pause hook: while ``pause`` is set no evaluation starts; cancel ends the wait."""

from __future__ import annotations

import threading
import time

from rcx.core import events as ev
from rcx.core.plan import load_plan
from rcx.core.runner import Runner
from rcx.core.store import Store

from .conftest import tiny_plan


def test_pause_holds_between_evaluations_and_resumes(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=3), registry)
    pause = threading.Event()
    finished: list[float] = []

    def on_event(e):
        if isinstance(e, ev.EvalFinished):
            finished.append(time.monotonic())
            if len(finished) == 1:
                pause.set()

    store = Store.open(plan.output)
    runner = Runner(plan, registry, on_event=on_event, pause=pause)
    thread = threading.Thread(target=runner.run, args=(store,))
    thread.start()
    while not pause.is_set():
        time.sleep(0.01)
    time.sleep(0.5)
    assert len(finished) == 1 and thread.is_alive()  # held after the first evaluation
    resumed = time.monotonic()
    pause.clear()
    thread.join(30)
    assert len(finished) == 3 and finished[1] >= resumed
    assert store.counts(1) == {"done": 3}
    store.close()


def test_cancel_ends_a_pause_at_once(tmp_path, registry):
    plan = load_plan(tiny_plan(tmp_path, n=3), registry)
    pause, cancel = threading.Event(), threading.Event()
    pause.set()
    store = Store.open(plan.output)
    runner = Runner(plan, registry, cancel=cancel, pause=pause)
    runner.setup()
    thread = threading.Thread(target=runner.run, args=(store,))
    thread.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    cancel.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - t0 < 0.5
    assert store.counts(1) == {} and store.run(1).state == "interrupted"
    store.close()
