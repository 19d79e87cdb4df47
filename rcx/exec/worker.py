"""The worker side of a distributed run: one plan, one dataset, prepared evaluators, many tasks.

:class:`EvalWorker` is a plain class (no Ray import): the Ray executor makes it an actor. It
parses the plan once, sets the run up with the driver's own functions
(:func:`rcx.core.setup.set_up`: the dataset from its own node's decoded-tensor cache, so images
never travel per task; :func:`~rcx.core.setup.prepare_evaluators` on its own device), and then
runs :class:`~rcx.core.runner.Task` after task through :func:`~rcx.core.runner.evaluate_one`,
the same function the in-process executor uses.

A task's messages stream back to the driver as tuples (see :meth:`EvalWorker.run`); the
driver stores them, so the worker never touches the results file.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from rcx.core.device import float32_on_cuda
from rcx.core.runner import CANCELLED, Outcome, Task, evaluate_one
from rcx.core.setup import prepare_evaluators, set_up

PROGRESS_INTERVAL = 0.25
"""Seconds between two progress messages of one task (curve points are never dropped)."""
STARTED_DELAY = 0.05
"""An evaluation that ends within this many seconds sends no ``started`` message of its own
(one message less per trivial task; the driver marks it started when its outcome arrives)."""

_END = object()


class EvalWorker:
    """Evaluates tasks of one plan on one device.

    ``plan_text``/``plan_source``: the plan as the driver read it (validated again here with
    this node's plugins). ``device_kind``: ``cpu`` or ``cuda`` (a GPU worker computes on the
    first GPU it sees: Ray gives each worker its own ``CUDA_VISIBLE_DEVICES``). ``threads``:
    torch CPU threads per evaluation.

    ``disabled``: the driver's disabled plugins (:func:`rcx.plugins.disabled_plugins`), which
    become exactly this process's (:func:`rcx.plugins.set_disabled_plugins`) before it loads
    its plugins; None: this process's own ``RCX_DISABLE_PLUGINS``. ``file_ids``: the ids the
    plan's ``ids`` sampler read from its ``file`` on the driver (:func:`rcx.core.plan.file_ids`),
    so this node reads no file (a relative one is relative to the driver's plan folder).

    Both travel as arguments of the actor, with the plan's text, rather than in the environment
    (Ray's ``runtime_env`` ``env_vars``): an argument reaches a worker on any node the same way,
    whatever that node's own environment or the cluster's runtime environment set-up, it
    replaces a value the node's environment sets (``env_vars`` can set a variable but not
    remove it), and a worker is built the same way outside Ray (the tests). The plan hash
    check in :meth:`setup` catches what still differs between the nodes' installations.
    """

    def __init__(self, name: str, plan_text: str, plan_source: str, plan_hash: str, device_kind: str,
                 threads: int, *, disabled: Sequence[str] | None = None,
                 file_ids: Sequence[str] | None = None) -> None:
        self.name = name
        self.plan_text, self.plan_source, self.plan_hash = plan_text, plan_source, plan_hash
        self.disabled = None if disabled is None else tuple(disabled)
        self.file_ids = None if file_ids is None else list(file_ids)
        self.device_kind = device_kind
        self.threads = max(1, int(threads))
        self.cancel_event = threading.Event()
        self.held = threading.Event()  # paused: calls that have not started return ("held",)
        self.ready = False

    def ping(self) -> dict[str, Any]:
        """Where this worker was placed, ``{"node", "pid"}``: answers as soon as the actor
        exists (the driver calls it in the control group, while :meth:`setup` runs)."""
        return {"node": socket.gethostname(), "pid": os.getpid()}

    def hold(self) -> None:
        """Pause: a call of :meth:`run` that has not started yet returns ``("held",)`` at once
        (the driver queues its task again); the running evaluation goes on."""
        self.held.set()

    def release(self) -> None:
        """Resume after :meth:`hold`."""
        self.held.clear()

    def setup(self) -> dict[str, Any]:
        """Parse the plan, load the data, prepare the evaluators; returns where this worker runs:
        ``{"node", "pid", "device"}``. Raises with a clear message when this node cannot serve
        the plan (another plan hash, no such device, a dataset it cannot load)."""
        from rcx.core.plan import parse_plan
        from rcx.plugins import get_registry, set_disabled_plugins

        torch.set_num_threads(self.threads)
        if self.disabled is not None:
            set_disabled_plugins(self.disabled)
        registry = get_registry()
        plan = parse_plan(self.plan_text, registry, source=self.plan_source, file_ids=self.file_ids)
        if plan.hash != self.plan_hash:
            raise RuntimeError(f"worker {self.name}: the plan reads differently on {socket.gethostname()} "
                               f"(hash {plan.hash}, driver {self.plan_hash}): install the same rcx and plugins "
                               "on every node")
        if self.device_kind == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError(f"worker {self.name} on {socket.gethostname()}: the plan asks for CUDA but torch "
                                   "sees no GPU here (give workers GPUs with --gpus-per-worker)")
            self.device = torch.device("cuda", 0)
            float32_on_cuda()  # as rcx.core.device.resolve_device does for the driver's own runs
        else:
            self.device = torch.device("cpu")
        setup = set_up(plan, registry)  # the same setup as the driver's (rcx.core.setup)
        self.data, self.space, self.evaluators = setup.data, setup.space, setup.evaluators
        prepare_evaluators(setup, self.device, plan.seed)
        self.ready = True
        return {"node": socket.gethostname(), "pid": os.getpid(), "device": self.device_label()}

    def device_label(self) -> str:
        """``cpu`` or ``cuda:0 (GPU 3)``: the device as this worker sees it, and which GPU it is."""
        if self.device.type != "cuda":
            return "cpu"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        return f"cuda:0 (GPU {visible})" if visible else "cuda:0"

    def cancel(self) -> None:
        """Stop the running evaluation at its next cancel check; tasks queued here return
        cancelled. Final: a cancelled worker takes no more work."""
        self.cancel_event.set()

    def run(self, task: Task) -> Iterator[tuple]:
        """Evaluate ``task``; yields ``("started", device)`` (left out when the evaluation ends
        within :data:`STARTED_DELAY`), then any number of ``("progress", fraction, message)``
        and ``("curve", step, epoch, metrics)``, and last ``("outcome", Outcome)``. While held
        (:meth:`hold`) it yields only ``("held",)``: the task did not start."""
        from rcx.api.evaluator import EvalContext

        if not self.ready:
            raise RuntimeError(f"worker {self.name} is not set up")
        if task.plan_hash != self.plan_hash:
            raise RuntimeError(f"worker {self.name}: task of plan {task.plan_hash}, worker of plan {self.plan_hash}")
        if self.cancel_event.is_set():
            yield ("outcome", Outcome(CANCELLED))
            return
        if self.held.is_set():
            yield ("held",)
            return
        arch = self.space.from_id(task.arch)
        messages: queue.Queue = queue.Queue()
        last_progress = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last_progress[0] >= PROGRESS_INTERVAL or fraction >= 1.0:
                last_progress[0] = now
                messages.put(("progress", float(fraction), str(message)))

        ctx = EvalContext(
            arch=arch, info=self.space.describe(arch, self.data.shape), seed=task.seed, device=self.device,
            cancel_event=self.cancel_event, progress=progress,
            curve=lambda step, epoch, metrics: messages.put(("curve", int(step), float(epoch), dict(metrics))),
        )
        evaluator = self.evaluators[task.evaluator]

        def evaluate() -> None:
            torch.set_num_threads(self.threads)  # per thread with OpenMP
            try:
                messages.put(("outcome", evaluate_one(evaluator, ctx)))
            except BaseException as exc:  # not an evaluation outcome: a bug, reported as a failure
                messages.put(("outcome", Outcome("failed", error=f"{type(exc).__name__}: {exc}")))
            finally:
                messages.put(_END)

        thread = threading.Thread(target=evaluate, name=f"rcx-{self.name}-eval", daemon=True)
        thread.start()
        try:
            first = messages.get(timeout=STARTED_DELAY)
        except queue.Empty:
            first = None
        if first is None or first[0] != "outcome":
            yield ("started", self.device_label())
        item = first if first is not None else messages.get()
        while item is not _END:
            yield item
            item = messages.get()
        thread.join()
