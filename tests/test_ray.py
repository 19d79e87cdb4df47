"""The Ray executor on a local Ray instance with 2 CPUs: same results as in-process, faults,
cancel, resume across executors. One instance serves the whole module."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from rcx.core import events as ev
from rcx.core.plan import load_plan
from rcx.core.results import results_table
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.exec import ExecutionSettings, make_executor
from rcx.plugins import load_registry

from . import ray_gate
from .conftest import ROOT, tiny_plan
from .ray_gate import gate_plan, ray, wait_started, wait_workers_held

TIMING = ("throughput", "seconds", "cpu_s")  # measured, not computed: the only columns allowed to differ


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray")
    address = ray_gate.start_local_ray(tmp, num_cpus=2)
    yield address
    ray.shutdown()


@pytest.fixture(scope="module")
def gate_registry():
    return load_registry([(ray_gate, "rcx-test-gate")])


def run(path: Path, registry, settings: ExecutionSettings | None = None, cancel: threading.Event | None = None,
        events: list | None = None, **kw):
    """Run ``path`` with ``settings`` (in-process when None); the table and the events."""
    plan = load_plan(path, registry)
    events = [] if events is None else events
    executor = make_executor(settings)
    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=events.append, cancel=cancel, executor=executor).run(store, **kw)
        table = results_table(store, run_id, registry)
    finally:
        store.close()
        close = getattr(executor, "close", None)
        if close:
            close()
    return table, events


def computed(table) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.endswith(TIMING)} for row in table.rows]


@pytest.fixture(autouse=True)
def one_thread_driver(monkeypatch):
    """The in-process runs sum on one torch thread, as each worker does (``RAY2``: one CPU per
    worker), so the tables compare bit for bit. With another thread count the last digits may
    move (CI once saw ridge's "loo" lambda, a float64 trace times a grid factor, differ by 2e-16
    relative between a 2-thread driver and a 1-thread worker)."""
    monkeypatch.setenv("RCX_THREADS", "1")


def rows_of(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT arch, evaluator, state FROM evaluations"))


def arch_ids(path: Path, registry) -> list[str]:
    runner = Runner(load_plan(path, registry), registry)
    runner.setup()
    return [c.arch.id for c in runner.candidates]


RAY2 = ExecutionSettings("ray", workers=2)


def test_two_workers_give_the_in_process_table(local_ray, gate_registry, tmp_path):
    folder = tmp_path / "gate"
    ref, _ = run(gate_plan(tmp_path / "a", folder, n=6), gate_registry)
    table, events = run(gate_plan(tmp_path / "b", folder, n=6), gate_registry, RAY2)
    assert computed(table) == computed(ref)
    assert all(r["ridge_rfm.status"] == "done" and r["gate.status"] == "done" for r in table.rows)
    assert all(r["ridge_rfm.cpu_s"] > 0 for r in table.rows)  # measured on the worker, carried by the outcome
    finished = [e for e in events if isinstance(e, ev.EvalFinished)]
    assert len(finished) == 12 and {e.worker for e in finished} <= {"w1", "w2"} and all(e.worker for e in finished)
    workers = [e for e in events if isinstance(e, ev.Workers)]
    assert workers and {w.name for w in workers[-1].workers} == {"w1", "w2"}
    # one may start after the other's done
    ready = {w.name: w for e in workers for w in e.workers if w.state == "ready"}
    assert {e.worker for e in finished} <= set(ready) and all(w.node and w.device == "cpu" for w in ready.values())


def test_a_worker_takes_its_own_candidates_tasks_first_and_another_worker_steals_only_at_the_end():
    """Candidate affinity (no Ray needed): a worker's next task is the first whose candidate is
    its own or no live worker's; a lost worker's candidates are free again."""
    from collections import deque

    from rcx.core.runner import Task
    from rcx.exec.ray_executor import RayExecutor, _Slot

    ex = RayExecutor(RAY2)
    a, b = _Slot("w1", None, state="ready"), _Slot("w2", None, state="ready")
    pending = deque(Task(i, f"c{i}", e, 0, "h") for i in range(3) for e in ("x", "y", "z"))
    taken = [ex._take(s, pending).key for s in (a, b, b, a, a, b, b)]
    assert taken == [("c0", "x"), ("c1", "x"), ("c1", "y"), ("c0", "y"), ("c0", "z"), ("c1", "z"), ("c2", "x")]
    assert ex._take(b, pending).key == ("c2", "y")
    assert ex._take(a, pending).key == ("c2", "z")  # only c2 is left, and it is w2's: w1 takes it, not idle
    assert not pending
    pending.extend(Task(3, "c3", e, 0, "h") for e in ("x", "y"))
    assert ex._take(a, pending).key == ("c3", "x")
    a.state = "lost"  # its queued tasks come back: anyone may take them
    assert ex._take(b, pending).key == ("c3", "y")


def test_the_evaluations_of_one_candidate_share_a_worker(local_ray, registry, tmp_path):
    """Two ridge readouts on shared features (init_seed = "shared") run in the worker that
    computed the features, so the second reuses them; the table equals the in-process one."""
    extra = "".join(f'[evaluators.{name}]\nevaluator = "ridge_rfm"\ntrials = 1\ntrain_size = 100\nval_size = 60\n'
                    f'batch_size = 32\ndtype = "float32"\ninit_seed = "shared"\n{more}'
                    for name, more in (("fixed", ""), ("loo", 'lambda = "loo"\nstandardize = true\n')))
    ref, _ = run(tiny_plan(tmp_path / "a", n=8, extra=extra), registry)
    table, events = run(tiny_plan(tmp_path / "b", n=8, extra=extra), registry, RAY2)
    assert computed(table) == computed(ref)
    workers: dict[str, set[str]] = {}
    for e in events:
        if isinstance(e, ev.EvalFinished):
            workers.setdefault(e.arch, set()).add(e.worker)
    order = arch_ids(tmp_path / "b" / "plan.toml", registry)
    assert len(order) == 8 and all(workers[a] for a in order)
    # every candidate but the last two (which a free worker may share at the end) ran on one worker
    assert all(len(workers[a]) == 1 for a in order[:-2]), workers


def test_in_process_run_resumes_on_ray(local_ray, gate_registry, tmp_path):
    folder = tmp_path / "gate"
    ref, _ = run(gate_plan(tmp_path / "a", folder, n=5), gate_registry)
    path = gate_plan(tmp_path / "b", folder, n=5)
    cancel = threading.Event()
    events: list = []

    def stop_after_three(e):
        events.append(e)
        if sum(isinstance(x, ev.EvalFinished) for x in events) >= 3:
            cancel.set()

    plan = load_plan(path, gate_registry)
    store = Store.open(plan.output)
    try:
        Runner(plan, gate_registry, on_event=stop_after_three, cancel=cancel).run(store)
    finally:
        store.close()
    assert events[-1].cancelled
    table, more = run(path, gate_registry, RAY2)
    started = next(e for e in more if isinstance(e, ev.RunStarted))
    assert started.resumed and started.done == 3
    assert sum(isinstance(e, ev.EvalFinished) for e in more) == 10 - 3
    assert computed(table) == computed(ref)


def test_killed_worker_reruns_elsewhere_and_is_recorded_once(local_ray, gate_registry, tmp_path):
    folder = tmp_path / "gate"
    held = arch_ids(gate_plan(tmp_path, folder, n=6), gate_registry)[2]
    path = gate_plan(tmp_path, folder, hold=held, n=6)
    events: list = []
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("table", run(path, gate_registry, RAY2, events=events)[0]))
    thread.start()
    try:
        (pid,) = wait_started(folder, held)
        os.kill(pid, signal.SIGKILL)  # the worker process, in the middle of the held evaluation
        pids = wait_started(folder, held, attempts=2)
    finally:
        (folder / "release").touch()
        thread.join(300)
    assert not thread.is_alive()
    assert len(set(pids)) == 2, "the evaluation ran again in another worker process"
    table = result["table"]
    assert all(r["gate.status"] == "done" and r["ridge_rfm.status"] == "done" for r in table.rows)
    assert sum(isinstance(e, ev.EvalFinished) and e.arch == held and e.evaluator == "gate" for e in events) == 1
    assert len(rows_of(path.parent / "results.db")) == 12
    assert any(isinstance(e, ev.Log) and "was lost" in e.message for e in events)
    assert not events[-1].cancelled and events[-1].counts == {"done": 12}


def test_cancel_stops_in_flight_work_and_resumes_in_process(local_ray, gate_registry, tmp_path):
    folder = tmp_path / "gate"
    ids = arch_ids(gate_plan(tmp_path, folder, n=6), gate_registry)
    path = gate_plan(tmp_path, folder, hold=ids[1], n=6)
    cancel = threading.Event()
    events: list = []
    thread = threading.Thread(target=run, args=(path, gate_registry, RAY2, cancel, events))
    thread.start()
    wait_started(folder, ids[1])
    cancel.set()  # the held evaluation sees it at its next check
    thread.join(300)
    assert not thread.is_alive() and events[-1].cancelled
    db = path.parent / "results.db"
    assert all(state != "running" for _, _, state in rows_of(db))
    assert (ids[1], "gate") not in {(a, e) for a, e, _ in rows_of(db)}
    store = Store.open_readonly(db)
    try:
        assert store.run().state == "interrupted"
    finally:
        store.close()

    (folder / "release").touch()
    table, more = run(path, gate_registry)  # Ray -> in-process
    assert next(e for e in more if isinstance(e, ev.RunStarted)).resumed
    ref, _ = run(gate_plan(tmp_path / "ref", folder, hold=ids[1], n=6), gate_registry)
    assert computed(table) == computed(ref)


def test_killed_driver_resumes_without_duplicates(local_ray, gate_registry, tmp_path):
    """The driver (``rcx run --executor ray``, joined to this module's Ray) is SIGKILLed while a
    worker holds an evaluation; running the command again finishes the run, each row once."""
    folder = tmp_path / "gate"
    ids = arch_ids(gate_plan(tmp_path, folder, n=6), gate_registry)
    path = gate_plan(tmp_path, folder, hold=ids[3], n=6)
    env = {**os.environ, **ray_gate.ray_env(tmp_path)}
    cmd = [sys.executable, "-m", "rcx", "run", "--headless", str(path), "-q", "--executor", "ray",
           "--address", local_ray, "--workers", "2"]
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
    try:
        wait_started(folder, ids[3])
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, errors.read_text()
    db = path.parent / "results.db"
    before = {(a, e) for a, e, s in rows_of(db) if s == "done"}
    (folder / "release").touch()
    table, events = run(path, gate_registry, RAY2)
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert started.resumed and started.done == len(before)
    assert sum(isinstance(e, ev.EvalFinished) for e in events) == 12 - len(before)
    rows = rows_of(db)
    assert len(rows) == len(set((a, e) for a, e, _ in rows)) == 12 and {s for *_, s in rows} == {"done"}


def test_unreachable_address_exits_2_with_one_message(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tiny_plan(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "rcx", "run", "--headless", str(path), "--executor", "ray",
                           "--address", f"127.0.0.1:{port}"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"rcx: error: cannot reach the Ray cluster at 127.0.0.1:{port}"), proc.stderr
    assert not (tmp_path / "results.db").exists()


def test_stages_and_a_search_give_the_in_process_tables_on_ray(local_ray, registry, tmp_path):
    """A funnel's selections and a search's proposals do not depend on the executor."""
    stage = ('\n[evaluators.best]\nevaluator = "ridge_rfm"\ntrials = 1\ntrain_size = 100\nval_size = 60\n'
             'batch_size = 32\ntop = 2\nby = "ridge_rfm.val_acc"\n')
    ref, _ = run(tiny_plan(tmp_path / "a", n=5, trials=1, extra=stage), registry)
    table, _ = run(tiny_plan(tmp_path / "b", n=5, trials=1, extra=stage), registry, RAY2)
    assert computed(table) == computed(ref)
    assert sum(r["best.status"] == "done" for r in table.rows) == 2
    if pytest.importorskip("optuna"):
        text = tiny_plan(tmp_path / "c", n=1, trials=1).read_text()
        head, _, rest = text.partition("[sampler]")
        searched = head + '[sampler]\nkind = "optuna"\ntrials = 4\nobjective = ["ridge_rfm.val_acc"]\nbatch = 2\n' \
            + rest[rest.index("\n["):]
        (tmp_path / "c" / "plan.toml").write_text(searched)
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "plan.toml").write_text(searched.replace(str(tmp_path / "c"), str(tmp_path / "d")))
        a, _ = run(tmp_path / "c" / "plan.toml", registry)
        b, _ = run(tmp_path / "d" / "plan.toml", registry, RAY2)
        assert computed(a) == computed(b) and len(a.rows) >= 1


def wait_for(events: list, predicate, deadline_s: float = 300) -> object:
    """The first event that satisfies ``predicate``, waiting for the run's thread to send it (a
    hang guard, not a speed bound)."""
    import time

    end = time.monotonic() + deadline_s
    while True:
        found = next((e for e in list(events) if predicate(e)), None)
        if found is not None:
            return found
        assert time.monotonic() < end, "the event never came"
        time.sleep(0.05)


def logged(text: str):
    return lambda e: isinstance(e, ev.Log) and text in e.message


def test_pause_holds_the_calls_that_have_not_started_and_says_how_many_finish(local_ray, gate_registry, tmp_path):
    """Two calls are queued per worker; pausing while one worker holds an evaluation lets only
    the started evaluations finish: every gate evaluation that started has finished when the
    log says so, and the run completes after resuming, each evaluation recorded once. Every gate
    evaluation holds until released, so both workers are held when the pause comes (whatever
    the machine's speed): their queued calls have not started."""
    folder = tmp_path / "gate"
    path = gate_plan(tmp_path, folder, hold="*", n=6)
    plan = load_plan(path, gate_registry)
    pause, events = threading.Event(), []
    executor = make_executor(RAY2)
    store = Store.open(plan.output)
    runner = Runner(plan, gate_registry, on_event=events.append, executor=executor, pause=pause)
    thread = threading.Thread(target=runner.run, args=(store,))
    thread.start()
    try:
        wait_workers_held(folder, 2)
        pause.set()
        said = wait_for(events, logged("paused: no evaluation starts until resumed"))
        assert "still finishing" in said.message
        (folder / "release").touch()
        wait_for(events, logged("paused: every started evaluation has finished"))
        started = len(list(folder.glob("*.started")))
        finished = sum(isinstance(e, ev.EvalFinished) and e.evaluator == "gate" for e in list(events))
        assert started == finished < 6, (started, finished)
        pause.clear()
    finally:
        (folder / "release").touch()
        pause.clear()
        thread.join(300)
        store.close()
        executor.close()
    assert not thread.is_alive()
    assert events[-1].counts == {"done": 12} and not events[-1].cancelled
    assert sum(isinstance(e, ev.EvalFinished) for e in events) == 12
    assert len(rows_of(path.parent / "results.db")) == 12


def test_a_worker_that_is_never_placed_fails_to_start_and_the_run_goes_on(local_ray, gate_registry, tmp_path):
    """Three workers of one CPU on a 2-CPU instance: the third is never placed; after the worker
    timeout it is reported as failed to start with Ray's reason, and the other two finish."""
    folder = tmp_path / "gate"
    held = arch_ids(gate_plan(tmp_path, folder, n=6), gate_registry)[0]
    path = gate_plan(tmp_path, folder, hold=held, n=6)
    events: list = []
    result: dict = {}
    # Long enough for Ray to start the two placeable workers' processes on a loaded machine (a
    # placed worker has a pid, and then only SETUP_TIMEOUT applies), short enough for the suite.
    settings = ExecutionSettings("ray", workers=3, worker_timeout=20)
    thread = threading.Thread(
        target=lambda: result.setdefault("table", run(path, gate_registry, settings, events=events)[0]))
    thread.start()
    try:
        said = wait_for(events, logged("failed to start"))
    finally:
        (folder / "release").touch()
        thread.join(300)
    assert not thread.is_alive()
    assert "w3 failed to start" in said.message and "PENDING_CREATION" in said.message, said.message
    assert "going on with 2 other worker(s)" in said.message
    assert all(r["gate.status"] == "done" and r["ridge_rfm.status"] == "done" for r in result["table"].rows)
    last = [e for e in events if isinstance(e, ev.Workers)][-1]
    assert {w.name: w.state for w in last.workers}["w3"] == "failed"
    assert {e.worker for e in events if isinstance(e, ev.EvalFinished)} <= {"w1", "w2"}


def test_a_worker_takes_the_drivers_disabled_plugins_and_ids_not_its_environments(local_ray, registry, tmp_path,
                                                                                     monkeypatch):
    """A worker on another node shares neither the driver's environment nor its files. Here
    Ray's processes started before the variable was set (the module's instance), as a remote
    node's would, and the plan's ids file is gone once the driver has read it: the worker still
    leaves the driver's disabled plugin out, and sets up with the driver's ids."""
    from rcx.plugins import DISABLE_ENV

    space = registry.get("space", "ksd")(channels=8)
    (tmp_path / "top.csv").write_text(f"arch\n{space.arch_at(5).id}\n{space.arch_at(2).id}\n")
    path = tiny_plan(tmp_path)
    head, _, rest = path.read_text().partition("[sampler]")
    path.write_text(f'{head}[sampler]\nkind = "ids"\nfile = "top.csv"\n{rest[rest.index(chr(10) + "["):]}')
    plan = load_plan(path, registry)
    (tmp_path / "top.csv").unlink()
    monkeypatch.setenv(DISABLE_ENV, "rcx-test-gate")  # the gate plugin, which every worker here can load

    def seen(worker) -> tuple[str | None, list[str]]:  # runs in the worker's process
        from rcx.plugins import get_registry

        return os.environ.get(DISABLE_ENV), get_registry().names("evaluator")

    executor = make_executor(ExecutionSettings("ray", workers=1))
    try:
        slot = executor._add_worker(Runner(plan, registry, executor=executor), torch.device("cpu"))
        (setup,) = list(executor._setups)
        assert ray.get(setup)["device"] == "cpu"  # set up with the driver's ids: the file is not read
        env, evaluators = ray.get(slot.actor.__ray_call__.remote(seen))
    finally:
        executor.close()
    assert env == "rcx-test-gate" and "gate" not in evaluators and "ridge_rfm" in evaluators


def test_a_worker_process_starts_with_one_malloc_arena_unless_the_driver_says_otherwise(local_ray, registry,
                                                                                         tmp_path, monkeypatch):
    """glibc's per-thread arenas made a Ray worker's gradient computations 2x slower than one
    process's (BENCHMARKS.md): each worker starts with ``MALLOC_ARENA_MAX=1`` in its
    environment, or with the driver's own value where the driver sets one."""
    from rcx.exec.ray_executor import worker_env

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert worker_env() == {"MALLOC_ARENA_MAX": "1"}
    plan = load_plan(tiny_plan(tmp_path), registry)
    executor = make_executor(ExecutionSettings("ray", workers=1))
    try:
        slot = executor._add_worker(Runner(plan, registry, executor=executor), torch.device("cpu"))
        seen = ray.get(slot.actor.__ray_call__.remote(lambda worker: os.environ.get("MALLOC_ARENA_MAX")))
    finally:
        executor.close()
    assert seen == "1"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert worker_env() == {"MALLOC_ARENA_MAX": "4"}
