"""The CPU thread setting: ``rcx run --threads``, ``$RCX_THREADS`` and the auto default.

Threads are an execution setting: they reach torch inside the evaluations, are recorded with
the run's device, and change neither the plan's hash nor the results.
"""

from __future__ import annotations

import os
import threading
import types

import pytest
import torch

from rcx.api.evaluator import EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric
from rcx.cli import main
from rcx.core.device import (
    THREADS_ENV,
    CpuMeter,
    auto_threads,
    available_cores,
    parse_threads,
    resolve_threads,
    use_threads,
)
from rcx.core.plan import load_plan
from rcx.core.results import results_table
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.plugins import load_registry

from .conftest import tiny_plan


class ThreadProbe(Evaluator):
    """Reports the torch intra-op thread count seen inside ``evaluate``."""

    name = "probe"
    metrics = [Metric("threads", "count", True)]

    def evaluate(self, ctx):
        return EvalResult("done", {"threads": torch.get_num_threads()})


def _register(register) -> None:
    register(ThreadProbe)


@pytest.fixture(scope="module")
def probe_registry():
    return load_registry([(types.SimpleNamespace(rcx_register_evaluators=hookimpl(_register)), "t")])


def _run(folder, registry, threads, in_worker: bool = False):
    """(plan hash, results table, recorded device name) of the probe plan run with ``threads``,
    in this thread or, as the TUI does, in a worker thread."""
    plan = load_plan(tiny_plan(folder, n=3, extra="[evaluators.probe]\n"), registry)
    store = Store.open(plan.output)
    try:
        runner = Runner(plan, registry, threads=threads)
        if in_worker:
            worker = threading.Thread(target=runner.run, args=(store,))
            worker.start()
            worker.join()
            run_id = store.run().id
        else:
            run_id = runner.run(store)
        return plan.hash, results_table(store, run_id, registry), store.run(run_id).device_name
    finally:
        store.close()


def test_threads_reach_the_evaluations_and_change_nothing_else(tmp_path, probe_registry, monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    before = torch.get_num_threads()
    hash1, one, device1 = _run(tmp_path / "one", probe_registry, 1)
    hash3, three, device3 = _run(tmp_path / "three", probe_registry, 3, in_worker=True)
    assert torch.get_num_threads() == before  # restored after each run
    assert {r["probe.threads"] for r in one.rows} == {1} and {r["probe.threads"] for r in three.rows} == {3}
    assert "1 threads" in device1 and "3 threads" in device3
    assert hash1 == hash3
    ridge = ["ridge_rfm.status", "ridge_rfm.val_acc", "ridge_rfm.train_acc", "ridge_rfm.trials"]
    cells = [[[r[c] for c in ["arch", *ridge]] for r in t.rows] for t in (one, three)]
    assert cells[0] == cells[1]


def test_cli_threads_option_and_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(THREADS_ENV, "2")
    path = tiny_plan(tmp_path, n=1)
    assert main(["run", "--headless", "--threads", "1", "--db", str(tmp_path / "a.db"), str(path)]) == 0
    assert "torch CPU threads: 1 (set)" in capsys.readouterr().err
    assert main(["run", "--headless", "--db", str(tmp_path / "b.db"), str(path)]) == 0
    assert f"torch CPU threads: 2 ({THREADS_ENV})" in capsys.readouterr().err
    for db, n in (("a.db", 1), ("b.db", 2)):
        store = Store.open_readonly(tmp_path / db)
        assert f"{n} threads" in store.run().device_name
        store.close()

    for bad in ("0", "-1", "two", "1.5"):
        assert main(["run", "--headless", "--threads", bad, "--db", str(tmp_path / "c.db"), str(path)]) == 2
        assert "--threads" in capsys.readouterr().err
    monkeypatch.setenv(THREADS_ENV, "lots")
    assert main(["run", "--headless", "--db", str(tmp_path / "c.db"), str(path)]) == 2
    assert f"{THREADS_ENV}: threads 'lots'" in capsys.readouterr().err
    assert not (tmp_path / "c.db").exists()


def test_parse_and_resolve(monkeypatch):
    assert parse_threads("auto") is None and parse_threads(" AUTO ") is None and parse_threads("4") == 4
    for bad in ("0", "", "x", "2.0", "-3"):
        with pytest.raises(ValueError, match="positive whole number or 'auto'"):
            parse_threads(bad)
    monkeypatch.setenv(THREADS_ENV, "3")
    assert resolve_threads(5) == (5, "set") and resolve_threads() == (3, THREADS_ENV)
    monkeypatch.setenv(THREADS_ENV, "auto")
    assert resolve_threads()[1].startswith("auto")
    with use_threads(2) as (n, reason):
        assert (n, reason, torch.get_num_threads()) == (2, "set", 2)


def test_auto_uses_the_idle_cores():
    assert auto_threads(cores=2, busy=0.0)[0] == 2
    assert auto_threads(cores=2, busy=0.2)[0] == 2  # a daemon's share of a core: still idle
    assert auto_threads(cores=2, busy=0.3)[0] == 1  # a 2-core box with anything else running: 1
    assert auto_threads(cores=2, busy=7.5) == (1, "auto: 2 cores, other processes busy 7.5")
    assert auto_threads(cores=16, busy=4.2)[0] == 12 and auto_threads(cores=16, busy=0.0)[0] == 16
    assert auto_threads(cores=1, busy=0.0)[0] == 1
    n, reason = auto_threads()  # this machine, now
    assert 1 <= n <= available_cores() and reason.startswith(f"auto: {available_cores()} cores, ")


class FakeMachine:
    """A clock and CPU counters that the test advances: ``others`` cores busy with other
    processes, ``mine`` cores busy with this process."""

    def __init__(self, others: float, mine: float) -> None:
        self.t, self.busy_s, self.own_s = 100.0, 5000.0, 20.0
        self.others, self.mine = others, mine
        self.slept: list[float] = []

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.busy_s += (self.others + self.mine) * seconds
        self.own_s += self.mine * seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def meter(self) -> CpuMeter:
        return CpuMeter(busy=lambda: self.busy_s, own=lambda: self.own_s, clock=lambda: self.t, sleep=self.sleep,
                        window=0.25, max_age=2.0)


def test_auto_measures_what_other_processes_use_now_not_its_own_work():
    machine = FakeMachine(others=1.0, mine=0.0)
    meter = machine.meter()
    # one other process on one of two cores: one thread, measured over one window
    assert auto_threads(cores=2, meter=meter) == (1, "auto: 2 cores, other processes busy 1.0")
    assert machine.slept == [0.25]
    # the other process ends; this process then computes on both cores for a while (the load
    # average would still hold that work): its own CPU time does not count, so two threads
    machine.others, machine.mine = 0.0, 2.0
    machine.advance(1.0)
    assert auto_threads(cores=2, meter=meter)[0] == 2
    assert machine.slept == [0.25]  # a sample 1 s old starts the window: no waiting
    # right after a measurement: wait for the rest of the window
    machine.advance(0.05)
    assert auto_threads(cores=2, meter=meter)[0] == 2 and machine.slept[-1] == pytest.approx(0.2)
    # a stale sample (older than max_age) is not used: what ran back then no longer counts
    machine.others = 2.0
    machine.advance(30.0)
    machine.others = 0.1
    assert auto_threads(cores=2, meter=meter) == (2, "auto: 2 cores, other processes busy 0.1")
    assert machine.slept[-1] == 0.25


def test_auto_falls_back_to_the_load_average_without_counters():
    meter = CpuMeter(busy=lambda: None)
    n, reason = auto_threads(cores=2, meter=meter)
    assert 1 <= n <= 2 and reason.startswith("auto: 2 cores, load ")


def test_read_cpu_busy_counts_only_busy_ticks_of_the_given_cpus(tmp_path, monkeypatch):
    import rcx.core.device as device

    stat = tmp_path / "stat"
    stat.write_text("cpu  300 0 30 900 9 0 0 0 0 0\ncpu0 100 0 10 400 1 0 0 0 0 0\n"
                    "cpu1 200 0 20 500 8 1 2 3 0 0\nintr 1 2 3\n")
    monkeypatch.setattr(device, "Path", lambda _: stat)
    hz = os.sysconf("SC_CLK_TCK")
    assert device.read_cpu_busy() == pytest.approx((110 + 226) / hz)
    assert device.read_cpu_busy({1}) == pytest.approx(226 / hz)
    stat.write_text("cpu  1 2 3 4\ncpu0 1 2 3 4\n")  # an old kernel's four fields
    assert device.read_cpu_busy() == pytest.approx(6 / hz)
    stat.write_text("cpu0 1 x 3 4\n")
    assert device.read_cpu_busy() is None
