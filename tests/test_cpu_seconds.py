"""CPU seconds per evaluation (issue 20): measured by the one outcome function, stored in the
``cpu_s`` column (schema 3; older files open, migrate and resume), shown by ``rcx results``."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest
import torch

from rcx.api import EvalResult, Evaluator, Metric
from rcx.api.evaluator import EvalContext
from rcx.cli import main
from rcx.core.cputime import cpu_stopwatch, main_thread_clock
from rcx.core.results import results_table
from rcx.core.runner import evaluate_one
from rcx.core.store import SCHEMA_VERSION, Store

from .conftest import tiny_plan

BURN_S = 0.05  # CPU seconds the burning evaluator spends (measured on its own clock, not the wall's)


class Burner(Evaluator):
    """Spins until this process has spent :data:`BURN_S` CPU seconds, then scores 1."""

    name = "burner"
    metrics = [Metric("score", "", True)]

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        c0, x = time.process_time(), 0
        while time.process_time() - c0 < BURN_S:
            x += 1
        return EvalResult("done", {"score": 1.0})


class Broken(Burner):
    """Burns, then raises: a failure costs CPU too."""

    name = "broken"

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        super().evaluate(ctx)
        raise RuntimeError("boom")


def _ctx(space_arch) -> EvalContext:
    arch, info = space_arch
    return EvalContext(arch=arch, info=info, seed=0, device=torch.device("cpu"))


@pytest.fixture
def space_arch(registry):
    space = registry.get("space", "ksd")(channels=8)
    arch = space.arch_at(0)
    return arch, space.describe(arch, (3, 32, 32))


def test_an_evaluation_that_burns_cpu_records_its_cpu_seconds(space_arch):
    done = evaluate_one(Burner({}), _ctx(space_arch))
    failed = evaluate_one(Broken({}), _ctx(space_arch))
    assert done.status == "done" and done.cpu_s is not None and done.cpu_s >= BURN_S
    assert failed.status == "failed" and failed.cpu_s is not None and failed.cpu_s >= BURN_S


MAIN_BURN_S = 0.5  # CPU seconds the main thread spends while an evaluation runs in another thread


class Waiter(Evaluator):
    """Says it has started, waits (no CPU) until told to go, then burns :data:`BURN_S` CPU
    seconds of its own thread."""

    name = "waiter"
    metrics = [Metric("score", "", True)]

    def __init__(self, config, entered: threading.Event, go: threading.Event) -> None:
        super().__init__(config)
        self.entered, self.go = entered, go

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        self.entered.set()
        self.go.wait()
        c0, x = time.thread_time(), 0
        while time.thread_time() - c0 < BURN_S:
            x += 1
        return EvalResult("done", {"score": 1.0})


@pytest.mark.skipif(not hasattr(time, "pthread_getcpuclockid"), reason="no per-thread CPU clocks here")
def test_a_busy_main_thread_does_not_count_into_an_evaluation_in_another_thread(space_arch):
    """The TUI's case: the evaluation in a worker thread, the main thread drawing meanwhile.
    The main thread burns MAIN_BURN_S CPU seconds (its own clock: no wall-clock bound) while the
    evaluation waits; only the evaluation's own BURN_S count."""
    entered, go = threading.Event(), threading.Event()
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(evaluate_one(Waiter({}, entered, go), _ctx(space_arch))))
    thread.start()
    assert entered.wait(300)  # a hang guard
    c0, x = time.thread_time(), 0
    while time.thread_time() - c0 < MAIN_BURN_S:
        x += 1
    go.set()
    thread.join()
    (outcome,) = outcomes
    assert outcome.status == "done" and outcome.cpu_s is not None
    assert BURN_S <= outcome.cpu_s < BURN_S + MAIN_BURN_S / 2


def test_cpu_stopwatch_takes_the_other_threads_advance_off_the_process_clock():
    process, main = iter([10.0, 13.0]), iter([100.0, 102.5])
    assert cpu_stopwatch(lambda: next(process), lambda: next(main))() == pytest.approx(0.5)
    process = iter([10.0, 13.0])
    assert cpu_stopwatch(lambda: next(process), None)() == pytest.approx(3.0)  # no per-thread clock: the process's
    process, main = iter([10.0, 11.0]), iter([100.0, 102.0])
    assert cpu_stopwatch(lambda: next(process), lambda: next(main))() == 0.0  # never negative

    readings = iter([100.0])

    def gone_at_the_end() -> float:
        value = next(readings, None)
        if value is None:
            raise OSError(22, "Invalid argument")  # clock_gettime on an ended thread's clock
        return value

    process = iter([10.0, 13.0])
    assert cpu_stopwatch(lambda: next(process), gone_at_the_end)() == pytest.approx(3.0)


def test_the_main_thread_takes_nothing_off_its_own_evaluations():
    assert threading.current_thread() is threading.main_thread() and main_thread_clock() is None
    seen = []
    thread = threading.Thread(target=lambda: seen.append(main_thread_clock()))
    thread.start()
    thread.join()
    assert (seen[0] is not None) == hasattr(time, "pthread_getcpuclockid")


def _old_schema(path, version: int) -> None:
    """Turn a fresh results file into one of schema ``version`` (2: no ``cpu_s`` column)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("ALTER TABLE evaluations DROP COLUMN cpu_s")
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
    conn.close()


def test_a_run_stores_cpu_s_and_rcx_results_shows_it(tmp_path, capsys):
    plan = tiny_plan(tmp_path, n=3, trials=1)
    assert main(["run", "--headless", str(plan), "-q", "--top", "0"]) == 0
    store = Store.open_readonly(tmp_path / "results.db")
    try:
        evaluations = store.evaluations(store.run(None).id)
        table = results_table(store)
    finally:
        store.close()
    assert evaluations and all(e["cpu_s"] > 0 for e in evaluations if e["status"] == "done")
    assert "ridge_rfm.cpu_s" in table.columns and table.roles["ridge_rfm.cpu_s"] == "description"
    assert table.higher_is_better["ridge_rfm.cpu_s"] is False
    assert main(["results", str(tmp_path / "results.db"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert all(r["ridge_rfm.cpu_s"] > 0 for r in rows if r["ridge_rfm.status"] == "done")


def test_a_schema_2_file_opens_migrates_and_resumes(tmp_path):
    plan = tiny_plan(tmp_path, n=3, trials=1)
    assert main(["run", "--headless", str(plan), "-q", "--top", "0"]) == 0
    db = tmp_path / "results.db"
    _old_schema(db, 2)
    ro = Store.open_readonly(db)  # read-only: cpu_s reads as None, the table has no cpu_s column
    try:
        assert {e["cpu_s"] for e in ro.evaluations(1)} == {None}
        assert "ridge_rfm.cpu_s" not in results_table(ro).columns
    finally:
        ro.close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM evaluations WHERE rowid = (SELECT MAX(rowid) FROM evaluations)")
    conn.close()
    assert main(["run", "--headless", str(db), "-q", "--top", "0"]) == 0  # resumes the one left
    store = Store.open_readonly(db)
    try:
        version = store.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        cpu = [e["cpu_s"] for e in store.evaluations(1)]
    finally:
        store.close()
    assert int(version) == SCHEMA_VERSION == 3
    assert cpu[:-1] == [None] * (len(cpu) - 1) and cpu[-1] > 0  # old rows NULL, the resumed one measured
