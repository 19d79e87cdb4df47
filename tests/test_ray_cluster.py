"""The Ray executor on clusters simulated on this host (``ray.cluster_utils.Cluster``): a node
removed mid-evaluation loses its task to a live node, recorded once; with no node left (or the
local raylet killed) the run stops with Ray's reason after the worker timeout, resumable."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rcx.core import events as ev
from rcx.exec import ExecutionSettings

from . import ray_gate
from .ray_gate import gate_plan, ray, wait_started
from .test_ray import arch_ids, one_thread_driver, rows_of, run  # noqa: F401  (one_thread_driver: autouse)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head without CPUs (no worker lands on it, so removing a node never stops the cluster)
    and two nodes of one CPU each."""
    from ray.cluster_utils import Cluster

    tmp = tmp_path_factory.mktemp("cluster")
    with ray_gate.ray_environment(tmp):
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        nodes = [c.add_node(num_cpus=1) for _ in range(2)]
        c.wait_for_nodes()
    yield c, nodes
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def node_of(pid: int, nodes: list) -> object:
    """The simulated node whose raylet started the worker process ``pid``."""
    raylets = {n.all_processes["raylet"][0].process.pid: n for n in nodes}
    p = pid
    while p > 1:
        if p in raylets:
            return raylets[p]
        p = _parent(p)
    raise AssertionError(f"worker {pid} is not under a raylet of {list(raylets)}")


def test_removed_node_loses_its_task_to_the_other(cluster, tmp_path):
    from rcx.plugins import load_registry

    c, nodes = cluster
    registry = load_registry([(ray_gate, "rcx-test-gate")])
    folder = tmp_path / "gate"
    held = arch_ids(gate_plan(tmp_path, folder, n=4), registry)[1]
    path = gate_plan(tmp_path, folder, hold=held, n=4)
    settings = ExecutionSettings("ray", address=c.address, workers=2)
    events: list = []
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("table", run(path, registry, settings, events=events)[0]))
    thread.start()
    try:
        (pid,) = wait_started(folder, held)
        c.remove_node(node_of(pid, nodes), allow_graceful=False)
        pids = wait_started(folder, held, attempts=2)
    finally:
        (folder / "release").touch()
        thread.join(300)
    assert not thread.is_alive()
    assert len(set(pids)) == 2
    table = result["table"]
    assert all(r["gate.status"] == "done" and r["ridge_rfm.status"] == "done" for r in table.rows)
    assert sum(isinstance(e, ev.EvalFinished) and e.arch == held and e.evaluator == "gate" for e in events) == 1
    assert len(rows_of(Path(path).parent / "results.db")) == 8
    assert any(isinstance(e, ev.Log) and "was lost" in e.message for e in events)


def test_workers_go_on_to_a_live_node_and_with_no_node_left_the_run_stops_resumable(tmp_path):
    """Both workers on node A; node B joins and A is removed mid-evaluation: the replacements
    land on B and the held evaluation runs again there. Then B is removed too: no replacement
    can be placed, they fail to start after the worker timeout, and the run stops with Ray's
    reason (no hang), nothing left running. With node C added, the same command finishes the
    run, each evaluation recorded once, the table the in-process one."""
    from ray.cluster_utils import Cluster

    from rcx.core.runner import ExecutorError
    from rcx.plugins import load_registry

    from .test_ray import computed

    registry = load_registry([(ray_gate, "rcx-test-gate")])
    folder = tmp_path / "gate"
    held = arch_ids(gate_plan(tmp_path, folder, n=4), registry)[1]
    path = gate_plan(tmp_path, folder, hold=held, n=4)
    if ray.is_initialized():  # the module's cluster: this test starts its own
        ray.shutdown()
    with ray_gate.ray_environment(tmp_path):
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        a = c.add_node(num_cpus=2)
        c.wait_for_nodes()
    try:
        settings = ExecutionSettings("ray", address=c.address, workers=2, worker_timeout=10)
        events: list = []
        result: dict = {}

        def first_run() -> None:
            try:
                run(path, registry, settings, events=events)
            except ExecutorError as exc:
                result["error"] = str(exc)

        thread = threading.Thread(target=first_run)
        thread.start()
        try:
            (pid,) = wait_started(folder, held)
            assert node_of(pid, [a]) is a
            with ray_gate.ray_environment(tmp_path):
                b = c.add_node(num_cpus=2)
                c.wait_for_nodes()
            c.remove_node(a, allow_graceful=False)
            again = [p for p in wait_started(folder, held, attempts=2) if p != pid]
            assert len(again) == 1 and node_of(again[0], [b]) is b  # went on with the live node
            c.remove_node(b, allow_graceful=False)
        finally:
            thread.join(300)
        assert not thread.is_alive()
        assert "no Ray worker is left" in result.get("error", ""), result
        assert "not placed on a node in 10 s" in result["error"] and "resume" in result["error"]
        assert any(isinstance(e, ev.Log) and "failed to start" in e.message for e in events)
        db = Path(path).parent / "results.db"
        assert all(state != "running" for *_, state in rows_of(db))
        done_before = len(rows_of(db))
        assert done_before < 8

        with ray_gate.ray_environment(tmp_path):
            c.add_node(num_cpus=2)
            c.wait_for_nodes()
        (folder / "release").touch()
        table, more = run(path, registry, settings)
        started = next(e for e in more if isinstance(e, ev.RunStarted))
        assert started.resumed and started.done == done_before
        assert sum(isinstance(e, ev.EvalFinished) for e in more) == 8 - done_before
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
    rows = rows_of(Path(path).parent / "results.db")
    assert len(rows) == 8 and {s for *_, s in rows} == {"done"}
    ref, _ = run(gate_plan(tmp_path / "ref", folder, n=4), registry)
    assert computed(table) == computed(ref)


def _descendants(pid: int) -> dict[int, str]:
    """Every process under ``pid``: pid -> command line."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(_parent(int(entry.name)), []).append(int(entry.name))
                names[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
    out, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out[child] = names.get(child, "")
            todo.append(child)
    return out


def test_a_killed_local_raylet_stops_the_run_with_its_reason_and_the_file_resumes(tmp_path):
    """``rcx run --executor ray`` on its private local instance, whose raylet is SIGKILLed while
    a worker holds an evaluation: the workers are lost, no replacement can be placed, and after
    the worker timeout the command exits 2 saying why; the same plan then resumes in-process."""
    import signal
    import subprocess
    import sys

    from rcx.plugins import load_registry

    from .conftest import ROOT
    from .test_ray import computed

    registry = load_registry([(ray_gate, "rcx-test-gate")])
    folder = tmp_path / "gate"
    ids = arch_ids(gate_plan(tmp_path, folder, n=6), registry)
    path = gate_plan(tmp_path, folder, hold=ids[2], n=6)
    env = {**os.environ, **ray_gate.ray_env(tmp_path)}
    cmd = [sys.executable, "-m", "rcx", "run", "--headless", str(path), "-q", "--executor", "ray", "--workers", "2",
           "--worker-timeout", "5"]
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
    workers: list[int] = []
    try:
        workers = wait_started(folder, ids[2])
        (raylet,) = [p for p, line in _descendants(proc.pid).items() if "raylet/raylet" in line.split(" ")[0]]
        os.kill(raylet, signal.SIGKILL)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        (folder / "release").touch()
        for pid in workers:  # the held worker, if Ray left it behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = errors.read_text()
    assert proc.returncode == 2, text
    assert "no Ray worker is left" in text and "Ray node(s) alive" in text, text
    assert "run the same command again" in text, text
    assert "Traceback" not in text
    db = path.parent / "results.db"
    before = {(a, e) for a, e, s in rows_of(db) if s == "done"}
    assert all(s != "running" for *_, s in rows_of(db)) and len(before) < 12
    table, events = run(path, registry)  # in-process
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert started.resumed and started.done == len(before)
    rows = rows_of(db)
    assert len(rows) == 12 and {s for *_, s in rows} == {"done"}
    ref, _ = run(gate_plan(tmp_path / "ref", folder, hold=ids[2], n=6), registry)
    assert computed(table) == computed(ref)
