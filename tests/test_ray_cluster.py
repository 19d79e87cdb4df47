"""The Ray executor on a 2-node cluster simulated on this host (``ray.cluster_utils.Cluster``):
a node removed mid-evaluation loses its task to the other node, recorded once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rcx.core import events as ev
from rcx.exec import ExecutionSettings

from . import ray_gate
from .ray_gate import gate_plan, ray, wait_started
from .test_ray import arch_ids, rows_of, run

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
    thread = threading.Thread(target=lambda: result.setdefault("table", run(path, registry, settings, events=events)[0]))
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
