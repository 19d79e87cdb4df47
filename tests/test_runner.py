"""End-to-end runs on synthetic data: statuses, resume, reproducibility, failures."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
import torch

from rcx.api.evaluator import EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric
from rcx.core import events as ev
from rcx.core.plan import load_plan
from rcx.core.results import results_table
from rcx.core.runner import PlanMismatch, Runner
from rcx.core.store import Store
from rcx.plugins import load_registry

from . import blocking_evaluator
from .conftest import ROOT, fake_dist, tiny_plan


def run_plan(path, registry, cancel_after: int | None = None, **kw):
    plan = load_plan(path, registry)
    events: list = []
    cancel = threading.Event()

    def on_event(e):
        events.append(e)
        if cancel_after is not None and sum(isinstance(x, ev.EvalFinished) for x in events) >= cancel_after:
            cancel.set()

    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=on_event, cancel=cancel).run(store, **kw)
        table = results_table(store, run_id, registry)
    finally:
        store.close()
    return table, events


def accs(table) -> dict[str, float]:
    return {r["arch"]: r["ridge_rfm.val_acc"] for r in table.rows}


def test_run_records_every_candidate(tmp_path, registry):
    table, events = run_plan(tiny_plan(tmp_path), registry)
    assert len(table.rows) == 4
    for row in table.rows:
        assert row["ridge_rfm.status"] == "done"
        assert 0.0 <= row["ridge_rfm.val_acc"] <= 1.0
        assert row["ridge_rfm.throughput"] > 0 and row["ridge_rfm.trials"] == 2
        assert row["params"] > 0 and row["flops"] > 0 and row["kernel"].count(",") == 2
    assert {"arch", "kernel", "stride", "dilation", "params", "flops", "ridge_rfm.status",
            "ridge_rfm.val_acc"} <= set(table.columns)
    assert isinstance(events[0], ev.Log) and isinstance(events[-1], ev.RunFinished)
    assert events[-1].counts == {"done": 4}


def test_invalid_candidates_are_recorded_with_reason(tmp_path, registry):
    table, _ = run_plan(tiny_plan(tmp_path, n=30, valid_only=False, seed=3), registry)
    invalid = [r for r in table.rows if r["ridge_rfm.status"] == "invalid"]
    assert invalid, "at 32x32 many ksd stacks do not fit"
    assert all(r["ridge_rfm.error"] for r in invalid)
    assert all(r["ridge_rfm.val_acc"] is None for r in invalid)


def test_resume_skips_finished_and_matches_uninterrupted(tmp_path, registry):
    full, _ = run_plan(tiny_plan(tmp_path / "a", n=5), registry)
    path_b = tiny_plan(tmp_path / "b", n=5)
    part, events = run_plan(path_b, registry, cancel_after=2)
    assert events[-1].cancelled
    assert sum(r["ridge_rfm.status"] == "done" for r in part.rows) == 2
    resumed, events = run_plan(path_b, registry)
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert started.resumed and started.done == 2 and started.total == 5
    assert sum(isinstance(e, ev.EvalFinished) for e in events) == 3
    assert accs(resumed) == accs(full)
    again, events = run_plan(path_b, registry)
    assert not any(isinstance(e, ev.EvalFinished) for e in events)
    assert accs(again) == accs(full)


def test_results_do_not_depend_on_what_else_runs(tmp_path, registry):
    a, _ = run_plan(tiny_plan(tmp_path / "a", n=3), registry)
    b, _ = run_plan(tiny_plan(tmp_path / "b", n=6), registry)
    common = set(accs(a)) & set(accs(b))
    assert common
    assert all(accs(a)[k] == accs(b)[k] for k in common)


def test_different_plan_is_refused_or_added_as_new_run(tmp_path, registry):
    path = tiny_plan(tmp_path, n=2)
    run_plan(path, registry)
    other = tiny_plan(tmp_path, n=2, seed=9, name="other.toml", output=str(tmp_path / "results.db"))
    with pytest.raises(PlanMismatch, match="different plan"):
        run_plan(other, registry)
    table, _ = run_plan(other, registry, new_run=True)
    store = Store.open_readonly(tmp_path / "results.db")
    assert [r.id for r in store.runs()] == [1, 2]
    store.close()


class Flaky(Evaluator):
    """Fails on purpose for some architectures, and runs out of memory for others."""

    name = "flaky"
    metrics = [Metric("value", "", True)]

    def evaluate(self, ctx):
        if ctx.arch.id.startswith("k3"):
            raise RuntimeError("boom on purpose")
        if ctx.arch.id.startswith("k5"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return EvalResult("done", {"value": 1.0})


def test_failures_are_recorded_and_the_run_goes_on(tmp_path):
    def rcx_register_evaluators(register):
        register(Flaky)

    registry = load_registry([(types.SimpleNamespace(rcx_register_evaluators=hookimpl(rcx_register_evaluators)), "t")])
    path = tiny_plan(tmp_path, n=12, extra='[evaluators.flaky]\n')
    table, events = run_plan(path, registry)
    statuses = {r["arch"]: (r["flaky.status"], r.get("flaky.error")) for r in table.rows}
    assert any(s == "failed" and "boom on purpose" in e for s, e in statuses.values())
    assert any(s == "failed" and "out of memory" in e and "batch_size" in e for s, e in statuses.values())
    assert any(s == "done" for s, _ in statuses.values())
    assert all(r["ridge_rfm.status"] == "done" for r in table.rows)
    assert any(isinstance(e, ev.Log) and e.level == "error" and "boom" in e.message for e in events)


def _wait_for(marker: Path, proc: subprocess.Popen, errors: Path) -> str:
    """The marker's text once the blocked process wrote it; fails if the process ends first.

    The process blocks at the marker until it is killed, so this wait has no race: the loop
    only decides how soon the test notices. The deadline is a hang guard, not a speed bound.
    """
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, f"rcx exited ({proc.returncode}) before blocking:\n{errors.read_text()}"
        assert time.monotonic() < deadline, "rcx never reached the blocking evaluation"
        time.sleep(0.05)
    return marker.read_text()


@pytest.mark.slow
def test_sigkill_loses_at_most_the_evaluation_in_flight(tmp_path):
    """SIGKILL while the 4th candidate's second evaluation runs: the 7 finished before it stay."""
    registry = load_registry([(blocking_evaluator, "rcx-test-blocker")])
    site = tmp_path / "site"
    fake_dist(site, "rcx-test-blocker", "tests.blocking_evaluator")
    path = tiny_plan(tmp_path, n=8, trials=3, extra="[evaluators.blocker]\n")
    db, marker, errors = tmp_path / "results.db", tmp_path / "blocked", tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
           blocking_evaluator.BLOCK_AT: "4", blocking_evaluator.MARKER: str(marker)}
    with errors.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "rcx", "run", "--headless", str(path), "-q"], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
    try:
        blocked_arch = _wait_for(marker, proc, errors)
    finally:
        proc.kill()  # SIGKILL
        proc.wait()
        proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL

    archs = [c["arch"] for c in _candidates(db)]
    assert blocked_arch == archs[3]
    with sqlite3.connect(db) as conn:
        states = dict(((a, e), s) for a, e, s in conn.execute("SELECT arch, evaluator, state FROM evaluations"))
    done = {(a, "ridge_rfm") for a in archs[:4]} | {(a, "blocker") for a in archs[:3]}
    assert states == {**{k: "done" for k in done}, (archs[3], "blocker"): "running"}

    table, events = run_plan(path, registry)
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert started.resumed and started.done == 7 and started.total == 16
    assert sum(isinstance(e, ev.EvalFinished) for e in events) == 9
    assert [(r["ridge_rfm.status"], r["blocker.status"]) for r in table.rows] == [("done", "done")] * 8
    ref, _ = run_plan(tiny_plan(tmp_path / "ref", n=8, trials=3, extra="[evaluators.blocker]\n"), registry)
    assert accs(table) == accs(ref)
    assert {r["arch"]: r["blocker.params"] for r in table.rows} == {r["arch"]: r["blocker.params"] for r in ref.rows}


def _candidates(db: Path) -> list[dict]:
    store = Store.open_readonly(db)
    try:
        return store.candidates(store.run().id)
    finally:
        store.close()
