"""The Ray executor: tasks on Ray actors, one machine or a cluster; the driver writes the file.

Each worker is an actor (:class:`~rcx.exec.worker.EvalWorker`) that owns a device slot
(``num_gpus`` may be fractional) and holds the dataset and the prepared evaluators. The driver
(:meth:`RayExecutor.execute`, in the process that runs :class:`~rcx.core.runner.Runner`)
submits each task as a streaming generator call, keeps at most :data:`IN_FLIGHT_PER_WORKER`
calls per worker (Ray's "limit pending tasks" pattern with ``ray.wait``), and hands every
message back to the runner as it arrives: task started, progress, curve points, the outcome.
The runner is the only writer of the results file, and records each task exactly once.
A worker gets the plan as the driver read it: its text, the plugins the driver disabled and the
ids its sampler read from a file (arguments of the actor, not this process's environment, which
a worker on another node does not share; see :class:`~rcx.exec.worker.EvalWorker`).

Faults: a worker that dies (its process killed, its node gone) loses its tasks to the other
workers and is replaced (Ray itself retries nothing, so no result can arrive twice); the
replacement lands on any node that is still alive. A worker that Ray does not place on a node
within ``--worker-timeout`` seconds (:attr:`~rcx.exec.ExecutionSettings.worker_timeout`) is
reported as failed to start, with Ray's view of why (the actor's state, the nodes alive, the
resources free), and the run goes on with the others; when no worker is left (the node's raylet
died, every node is gone), the run stops with that reason, :class:`ExecutorError`, and stays
resumable. Pause: no new submissions, and calls queued on a worker that have not started return
unstarted (the worker holds them) and go back to the queue; the log says how many evaluations
are still finishing. Cancel: no new submissions, the workers stop their evaluations at the next
cancel check, what still runs after :data:`CANCEL_GRACE` seconds is dropped with its actor; the
file stays resumable.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ray
import torch
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from rcx.api.evaluator import Cancelled
from rcx.core import events as ev
from rcx.core.plan import file_ids
from rcx.core.runner import CANCELLED, ExecutorError, Outcome, Runner, Task
from rcx.exec import ExecutionSettings
from rcx.exec.worker import EvalWorker
from rcx.plugins import disabled_plugins

IN_FLIGHT_PER_WORKER = 2
"""Calls submitted to one worker at a time: one running, one queued behind it (no idle gap)."""
CANCEL_GRACE = 3.0
"""Seconds a cancel waits for running evaluations to stop by themselves before killing them."""
WAIT_TIMEOUT = 0.1
"""Seconds one ``ray.wait`` blocks: how soon a cancel or a pause is noticed."""
SETUP_TIMEOUT = 600.0
"""Seconds a placed worker may take to set up (load the dataset, prepare the evaluators), at least
the worker timeout; longer, it is reported as failed to start."""
REPLACEMENTS_PER_WORKER = 3
"""Lost workers replaced per requested worker before the run gives up."""
WORKER_ENV = {"MALLOC_ARENA_MAX": "1"}
"""Environment each worker process starts with (Ray's ``runtime_env``), where the driver's own
environment does not set the variable (:func:`worker_env`). ``MALLOC_ARENA_MAX``: glibc's
allocator gives a thread of a busy multi-threaded process its own arena by default, and a Ray
worker (two dozen threads of Ray's own, a new thread per evaluation) then ran the zero-cost
gradient proxies' forward/backward computation 2x slower than one plain process did; with one
arena, two workers on two cores ran the whole-benchmark suite 1.5x faster, as fast as one
process with two threads (BENCHMARKS.md, "Ray executor: the quickstart sweep on 2 cores").
Other C libraries ignore the variable."""

# ray's typed overloads of remote() leave out concurrency_groups, an actor option it documents.
_remote: Callable[..., Any] = ray.remote
RemoteWorker = _remote(concurrency_groups={"control": 1})(EvalWorker)


@dataclass
class _Slot:
    """One worker actor as the driver sees it."""

    name: str
    actor: Any
    node: str = ""
    device: str = ""
    pid: int = 0
    state: str = "starting"  # starting | ready | lost | failed (to start)
    started: float = field(default_factory=time.monotonic)  # when the actor was asked for
    placed: bool = False  # the actor exists on a node (its ping answered); setting up until ready
    running: Task | None = None
    tasks: list[Task] = field(default_factory=list)  # submitted, not yet finished
    done: int = 0

    def info(self) -> ev.WorkerInfo:
        running = f"{self.running.arch} / {self.running.evaluator}" if self.running else ""
        return ev.WorkerInfo(self.name, self.node, self.device, running, self.done, self.state)


class RayExecutor:
    """Runs tasks on Ray actors; see the module docstring. ``settings`` as
    :class:`~rcx.exec.ExecutionSettings` with ``executor="ray"``."""

    name = "ray"
    runs_here = False

    def __init__(self, settings: ExecutionSettings) -> None:
        self.settings = settings
        self._started_ray = False
        self._slots: list[_Slot] = []
        self._setups: dict[Any, _Slot] = {}  # setup ObjectRef -> slot
        self._pings: dict[Any, _Slot] = {}  # ping ObjectRef -> slot (answers once the actor is placed)
        self._paused = False  # the workers were asked to hold unstarted calls
        self._failed: list[str] = []  # why each worker that failed to start did
        self._orphans: dict[tuple[str, str], Task] = {}  # started on a lost worker, queued again: row "running"
        self._calls: dict[Any, tuple[Task, _Slot]] = {}  # streaming generator -> (task, slot)
        self._recorded: set[tuple[str, str]] = set()
        self._owners: dict[str, _Slot] = {}  # candidate id -> the worker its evaluations go to
        self._lost = 0

    # -- connecting --------------------------------------------------------------------------
    def connect(self) -> None:
        """Start a private local Ray instance (no ``address``) or join a cluster; idempotent.

        :class:`ExecutorError` when the cluster cannot be reached."""
        if ray.is_initialized():
            return
        address = self.settings.address
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        with _real_std_streams():
            self._init(address, options)
        self._started_ray = True

    def _init(self, address: str | None, options: dict[str, Any]) -> None:
        try:
            if address is None:  # "local", never None: None joins whatever cluster runs on this machine
                wanted = (self.settings.workers or 0) * self.settings.cpus_per_worker
                ray.init(address="local", num_cpus=max(os.cpu_count() or 1, math.ceil(wanted)), **options)
            else:
                if address != "auto":
                    _check_reachable(address)
                ray.init(address=address, **options)
        except ExecutorError:
            raise
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError...: one message
            where = "a local Ray instance" if address is None else f"the Ray cluster at {address!r}"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExecutorError(f"cannot start or join {where}: {first}") from None

    def close(self) -> None:
        """Stop every worker; shut down the local Ray instance this executor started."""
        self._kill_all()
        self._recorded.clear()
        self._lost = 0
        self._failed.clear()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    # -- the Executor protocol ---------------------------------------------------------------
    def resolve_device(self, spec: str) -> torch.device:
        """The device kind of the workers: ``cuda:N``/``cuda`` -> ``cuda``, ``cpu`` -> ``cpu``,
        ``auto`` -> ``cuda`` when the cluster has GPUs (and workers may have them)."""
        kind = spec.partition(":")[0]
        if kind == "auto":
            self.connect()
            gpus = ray.cluster_resources().get("GPU", 0)
            kind = "cuda" if gpus > 0 and self.settings.gpus_per_worker != 0 else "cpu"
        return torch.device(kind)

    def device_name(self, device: torch.device) -> str:
        return f"{device.type} on Ray ({self.settings.address or 'local'})"

    def execute(self, runner: Runner, tasks: list[Task]) -> None:
        self.connect()
        device = runner.device or torch.device("cpu")
        n = self._plan_workers(device, len(tasks))
        if not self._slots:
            runner.log("info", f"Ray: {n} worker(s), {self._gpus(device):g} GPU and "
                               f"{self.settings.cpus_per_worker:g} CPU each, {self.settings.threads()} torch thread(s) "
                               f"each ({self.settings.address or 'local'})")
        try:
            for _ in range(n - len(self._alive())):  # workers of an earlier batch (stage) stay
                self._add_worker(runner, device)
            self._owners.clear()  # a batch's candidates go to whichever worker is free first
            self._drive(runner, deque(tasks), n)
        except BaseException:
            started = [t for t, s in self._calls.values() if s.running is t] + list(self._orphans.values())
            for task in started:  # started rows go: the file stays resumable
                if task.key not in self._recorded:
                    try:
                        runner.record(task, Outcome(CANCELLED))
                    except Exception:
                        pass
            self._orphans.clear()
            self._kill_all()
            raise

    # -- workers -----------------------------------------------------------------------------
    def _gpus(self, device: torch.device) -> float:
        gpw = self.settings.gpus_per_worker
        return float(gpw) if gpw is not None else (1.0 if device.type == "cuda" else 0.0)

    def _plan_workers(self, device: torch.device, n_tasks: int) -> int:
        """How many workers to start; :class:`ExecutorError` when the cluster cannot hold one."""
        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
        gpw, cpw = self._gpus(device), self.settings.cpus_per_worker
        if device.type == "cuda" and gpw == 0:
            raise ExecutorError("the plan runs on CUDA: give each worker a GPU share (--gpus-per-worker 1, "
                                "or 0.25 for four workers per GPU)")
        if gpw > gpus:
            raise ExecutorError(f"each worker needs {gpw:g} GPU but the Ray cluster has {gpus:g}")
        if cpw > cpus:
            raise ExecutorError(f"each worker needs {cpw:g} CPU but the Ray cluster has {cpus:g}")
        if self.settings.workers:
            n = self.settings.workers
        else:
            n = int(cpus // cpw)
            if gpw > 0:
                n = min(n, int(gpus // gpw + 1e-9))
        return max(1, min(n, n_tasks))

    def _add_worker(self, runner: Runner, device: torch.device) -> _Slot:
        name = f"w{len(self._slots) + 1}"
        plan = runner.plan
        actor = RemoteWorker.options(
            num_cpus=self.settings.cpus_per_worker, num_gpus=self._gpus(device), max_restarts=0, max_task_retries=0,
            name=None, runtime_env={"env_vars": worker_env()},
        ).remote(name, plan.text, plan.source, plan.hash, device.type, self.settings.threads(),
                 disabled=sorted(disabled_plugins()), file_ids=file_ids(plan.sampler))
        slot = _Slot(name, actor)
        self._slots.append(slot)
        self._pings[actor.ping.options(concurrency_group="control").remote()] = slot
        self._setups[actor.setup.remote()] = slot
        if self._paused:
            actor.hold.options(concurrency_group="control").remote()
        return slot

    def _alive(self) -> list[_Slot]:
        """Workers that are ready or may still become ready."""
        return [s for s in self._slots if s.state in ("starting", "ready")]

    def _emit_workers(self, runner: Runner) -> None:
        runner.emit(ev.Workers(tuple(s.info() for s in self._slots)))

    def _kill_all(self) -> None:
        for slot in self._slots:
            if slot.state in ("starting", "ready"):
                try:
                    ray.kill(slot.actor, no_restart=True)
                except Exception:
                    pass
                slot.state = "lost"
        self._slots.clear()
        self._setups.clear()
        self._pings.clear()
        self._calls.clear()
        self._owners.clear()
        self._paused = False

    def _lose(self, runner: Runner, slot: _Slot, pending: deque[Task], requested: int, why: str) -> None:
        """``slot``'s worker is gone: its unfinished tasks go back to the front of the queue and a
        new worker takes its place (up to :data:`REPLACEMENTS_PER_WORKER` per worker)."""
        if slot.state in ("lost", "failed"):
            return
        if slot.running is not None and slot.running.key not in self._recorded:
            self._orphans[slot.running.key] = slot.running
        slot.state, slot.running = "lost", None
        self._forget(slot)
        again = [t for t in slot.tasks if t.key not in self._recorded]
        slot.tasks = []
        pending.extendleft(reversed(again))
        self._lost += 1
        where = f" on {slot.node}" if slot.node else ""
        runner.log("warning",
                   f"worker {slot.name}{where} was lost ({why}); {len(again)} evaluation(s) run again elsewhere")
        if runner.cancel.is_set():  # cancelling: nothing more will run
            pass
        elif self._lost <= REPLACEMENTS_PER_WORKER * requested:
            self._add_worker(runner, runner.device or torch.device("cpu"))
        elif not self._alive():
            raise ExecutorError(f"every Ray worker was lost ({self._lost} so far, the last: {why}); "
                                "run the same command again to resume")
        self._emit_workers(runner)

    def _forget(self, slot: _Slot) -> None:
        """Drop every call, setup and ping of ``slot`` from what the loop waits for."""
        for gen in [g for g, (_, s) in self._calls.items() if s is slot]:
            del self._calls[gen]
        for refs in (self._setups, self._pings):
            for ref in [r for r, s in refs.items() if s is slot]:
                del refs[ref]

    def _check_starting(self, runner: Runner) -> None:
        """Workers not placed within the worker timeout (or placed but not set up within
        :data:`SETUP_TIMEOUT`) failed to start: reported with Ray's reason, killed, not replaced.
        :class:`ExecutorError` when that leaves no worker."""
        timeout = self.settings.timeout()
        now = time.monotonic()
        for slot in [s for s in self._slots if s.state == "starting"]:
            actor_state = ""
            if not slot.placed and now - slot.started > timeout:
                actor_state, pid = _actor_state(slot.actor)
                slot.placed = actor_state == "ALIVE" or pid > 0  # a process was started for it: setting up
            limit = max(timeout, SETUP_TIMEOUT) if slot.placed else timeout
            if now - slot.started <= limit:
                continue
            if slot.placed:
                where = f" on {slot.node}" if slot.node else ""
                why = f"placed{where} but not set up in {limit:.0f} s (loading the dataset, preparing evaluators)"
            else:
                why = (f"not placed on a node in {limit:.0f} s: Ray reports the actor "
                       f"{actor_state or 'in no known state'} with no process, {self._placement_reason()}")
            slot.state = "failed"
            self._forget(slot)
            try:
                ray.kill(slot.actor, no_restart=True)
            except Exception:
                pass
            self._failed.append(f"({slot.name}) was {why}")
            others = len(self._alive())
            runner.log("warning", f"worker {slot.name} failed to start ({why}); "
                                  + (f"going on with {others} other worker(s)" if others else "no worker is left"))
            self._emit_workers(runner)
        if not self._alive():
            lost = f" ({self._lost} lost before)" if self._lost else ""
            last = self._failed[-1] if self._failed else "was lost"
            raise ExecutorError(f"no Ray worker is left{lost}; the last one {last}. Finished evaluations "
                                "are saved: run the same command again to resume once the cluster has room "
                                "(--worker-timeout sets the wait)")

    def _placement_reason(self) -> str:
        """Ray's view of why a worker is not placed, in a few words: the nodes alive, the CPUs
        and GPUs free against one worker's need (best effort: empty parts are left out)."""
        parts = []
        try:
            nodes = ray.nodes()
            alive = sum(1 for n in nodes if n.get("Alive"))
            parts.append(f"{alive} of {len(nodes)} Ray node(s) alive")
        except Exception as exc:
            parts.append(f"Ray cannot list its nodes ({_first_line(exc)})")
        try:
            free = ray.available_resources()
            need = f"{self.settings.cpus_per_worker:g} CPU"
            have = f"{free.get('CPU', 0.0):g} CPU"
            if self.settings.gpus_per_worker:
                need += f" + {self.settings.gpus_per_worker:g} GPU"
                have += f" + {free.get('GPU', 0.0):g} GPU"
            parts.append(f"a worker needs {need}, {have} free")
        except Exception:
            pass
        return ", ".join(parts) + " (see `ray status`)"

    # -- the loop ----------------------------------------------------------------------------
    def _submit(self, pending: deque[Task]) -> None:
        """Fill every ready worker up to :data:`IN_FLIGHT_PER_WORKER` calls."""
        for slot in self._slots:
            while slot.state == "ready" and pending and len(slot.tasks) < IN_FLIGHT_PER_WORKER:
                task = self._take(slot, pending)
                if task.key in self._recorded:
                    continue
                gen = slot.actor.run.options(num_returns="streaming").remote(task)
                self._calls[gen] = (task, slot)
                slot.tasks.append(task)

    def _take(self, slot: _Slot, pending: deque[Task]) -> Task:
        """The next task for ``slot`` (``pending`` not empty), taken out of ``pending``: the first
        one whose candidate is ``slot``'s or no live worker's, and that candidate becomes
        ``slot``'s. So the evaluations of one candidate meet in one worker process, where
        evaluators with ``init_seed = "shared"`` reuse what another computed (``ridge_rfm``'s
        features, the five gradient proxies' one computation) instead of computing it again.
        When every pending task's candidate belongs to another live worker (the run's last
        candidates), the first one is taken anyway: no worker waits while work is left."""
        def open_to(arch: str) -> bool:
            owner = self._owners.get(arch)
            return owner is None or owner is slot or owner.state not in ("starting", "ready")

        index = next((i for i, task in enumerate(pending) if open_to(task.arch)), 0)
        task = pending[index]
        del pending[index]
        self._owners[task.arch] = slot
        return task

    def _drive(self, runner: Runner, pending: deque[Task], requested: int) -> None:
        while pending or self._calls:
            if runner.cancel.is_set():
                self._cancel(runner, pending, requested)
                raise Cancelled()
            if runner.pause.is_set() != self._paused:
                self._set_paused(runner, not self._paused)
            if not self._paused:
                self._submit(pending)
            self._check_starting(runner)
            waitables = [*self._pings, *self._setups, *self._calls]
            if not waitables:
                runner.cancel.wait(WAIT_TIMEOUT)  # paused with nothing in flight
                continue
            ready, _ = ray.wait(waitables, num_returns=1, timeout=WAIT_TIMEOUT)
            for obj in ready:
                if obj in self._pings:
                    self._on_ping(runner, obj)
                elif obj in self._setups:
                    self._on_setup(runner, obj, pending, requested)
                elif obj in self._calls:
                    self._on_message(runner, obj, pending, requested)
                    if self._paused and not self._calls:
                        runner.log("info", "paused: every started evaluation has finished; nothing runs until resumed")

    def _set_paused(self, runner: Runner, paused: bool) -> None:
        """Ask every worker to hold (or release) the calls queued on it that have not started."""
        self._paused = paused
        for slot in self._alive():
            try:
                (slot.actor.hold if paused else slot.actor.release).options(concurrency_group="control").remote()
            except Exception:
                pass
        if paused:
            finishing = sum(1 for s in self._slots if s.running is not None)
            runner.log("info", f"paused: no evaluation starts until resumed; {finishing} started evaluation(s) still "
                               "finishing" + ("" if finishing else " (none)"))

    def _on_ping(self, runner: Runner, ref: Any) -> None:
        """The worker's actor exists: placed on a node, setting up (an error waits for setup's)."""
        slot = self._pings.pop(ref)
        try:
            info = ray.get(ref)
        except Exception:
            return  # the setup call reports the same failure
        if slot.state == "starting":
            slot.placed, slot.node, slot.pid = True, info["node"], info["pid"]
            self._emit_workers(runner)

    def _on_setup(self, runner: Runner, ref: Any, pending: deque[Task], requested: int) -> None:
        slot = self._setups.pop(ref)
        try:
            info = ray.get(ref)
        except RayActorError as exc:
            self._lose(runner, slot, pending, requested, _first_line(exc))
            return
        except RayTaskError as exc:  # setup raised: this node cannot serve the plan
            cause = getattr(exc, "cause", None) or exc
            raise ExecutorError(f"Ray worker {slot.name} could not start: {type(cause).__name__}: "
                                f"{_first_line(cause)}") from None
        slot.node, slot.pid, slot.device, slot.state = info["node"], info["pid"], info["device"], "ready"
        self._emit_workers(runner)

    def _on_message(self, runner: Runner, gen: Any, pending: deque[Task], requested: int) -> None:
        task, slot = self._calls[gen]
        try:
            item = ray.get(next(gen))
        except StopIteration:  # ended without an outcome: treat as lost work
            del self._calls[gen]
            self._lose(runner, slot, pending, requested, "a task ended without a result")
            return
        except (RayActorError, GetTimeoutError) as exc:
            self._lose(runner, slot, pending, requested, _first_line(exc))
            return
        except RayTaskError as exc:  # a bug outside the evaluation: this task fails, the run goes on
            del self._calls[gen]
            cause = getattr(exc, "cause", None) or exc
            self._finish(runner, task, slot, Outcome("failed", error=f"{type(cause).__name__}: {_first_line(cause)}"))
            return
        kind = item[0]
        if kind == "held":  # paused before it started: back to the queue
            del self._calls[gen]
            if task in slot.tasks:
                slot.tasks.remove(task)
            if task.key not in self._recorded:
                pending.appendleft(task)
        elif kind == "started":
            self._orphans.pop(task.key, None)
            slot.running = task
            runner.task_started(task, slot.name, f"{item[1]} on {slot.node} ({slot.name})")
            self._emit_workers(runner)
        elif kind == "progress":
            runner.progress(task, item[1], item[2], slot.name)
        elif kind == "curve":
            runner.curve_point(task, item[1], item[2], item[3], slot.name)
        elif kind == "outcome":
            del self._calls[gen]
            self._finish(runner, task, slot, item[1])

    def _finish(self, runner: Runner, task: Task, slot: _Slot, outcome: Outcome) -> None:
        if slot.running is not task and not outcome.cancelled and task.key not in self._recorded:
            # a quick one: no "started"
            runner.task_started(task, slot.name, f"{slot.device} on {slot.node} ({slot.name})")
        if task in slot.tasks:
            slot.tasks.remove(task)
        if slot.running is task:
            slot.running = None
        if task.key in self._recorded:
            return
        self._orphans.pop(task.key, None)
        if not outcome.cancelled:
            self._recorded.add(task.key)
            slot.done += 1
        runner.record(task, outcome, slot.name)
        self._emit_workers(runner)

    def _cancel(self, runner: Runner, pending: deque[Task], requested: int) -> None:
        """No new submissions; workers stop at their next cancel check; whatever still runs
        after :data:`CANCEL_GRACE` seconds is dropped (its row removed) with its worker."""
        pending.clear()
        for slot in self._alive():
            try:
                slot.actor.cancel.options(concurrency_group="control").remote()
            except Exception:
                pass
        deadline = time.monotonic() + CANCEL_GRACE
        while self._calls and time.monotonic() < deadline:
            ready, _ = ray.wait(list(self._calls), num_returns=1, timeout=WAIT_TIMEOUT)
            for gen in ready:
                if gen in self._calls:
                    self._on_message(runner, gen, pending, 0)
        for task, slot in list(self._calls.values()):
            if task.key not in self._recorded:
                runner.record(task, Outcome(CANCELLED), slot.name)
        self._calls.clear()
        self._kill_all()


_null: Any = None


def worker_env() -> dict[str, str]:
    """The variables of :data:`WORKER_ENV`, each with the driver's own value where its
    environment sets one (a cluster's users may tune the allocator themselves)."""
    return {name: os.environ.get(name, value) for name, value in WORKER_ENV.items()}


@contextmanager
def _real_std_streams() -> Iterator[None]:
    """Ray's start-up needs ``sys.stdout``/``sys.stderr`` with file descriptors; under the TUI
    (which captures them) they have none: Ray then gets the null device, never the screen."""
    def usable(stream: Any) -> bool:
        try:
            os.fstat(stream.fileno())  # the TUI's capture object answers -1
            return True
        except (AttributeError, OSError, ValueError):
            return False

    if usable(sys.stdout) and usable(sys.stderr):
        yield
        return
    global _null
    if _null is None:  # kept open: Ray's faulthandler keeps writing to it
        _null = open(os.devnull, "w")
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _null
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _actor_state(actor: Any) -> tuple[str, int]:
    """Ray's state of ``actor`` (``PENDING_CREATION``, ``ALIVE``, ...) and the pid of the process
    leased for it (0: none yet, it waits for a node with room), from the GCS actor table; Ray's
    private state API, so ``("", 0)`` when it cannot tell."""
    try:
        from ray._private.state import state as gcs

        info = gcs.actor_table(actor._actor_id.hex())
        return str(info.get("State", "")), int(info.get("Pid") or 0)
    except Exception:
        return "", 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_reachable(address: str) -> None:
    """:class:`ExecutorError` unless something listens at ``HOST:PORT`` (a fast, clear failure:
    Ray itself retries an unreachable address for a long time)."""
    host, sep, port = address.rpartition(":")
    if address.startswith("ray://"):
        host, sep, port = address[len("ray://"):].rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutorError(f"--address {address!r}: expected auto or HOST:PORT (the head node's `ray start "
                            "--head` prints it; the port is 6379 by default)")
    try:
        with socket.create_connection((host, int(port)), timeout=5.0):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExecutorError(f"cannot reach the Ray cluster at {address} ({reason}): start it there with "
                            f"`ray start --head --port={port}`, or check the address") from None
