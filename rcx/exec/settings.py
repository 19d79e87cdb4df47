"""Execution settings: which executor, where, how many workers. Imports neither torch nor Ray
(the CLI builds them while parsing its arguments)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rcx.api.options import Option

EXECUTORS = ("in-process", "ray")
WORKER_TIMEOUT = 120.0
"""Default seconds a Ray worker may take to be placed on a node (``--worker-timeout``); see
:attr:`ExecutionSettings.worker_timeout`."""
RAY_MISSING = 'the Ray executor needs Ray, which is not installed: pip install "rcx[ray]"'


EXECUTION_OPTIONS: list[Option] = [
    Option("executor", str, "in-process", "in-process (default): one evaluation at a time here; ray: parallel "
           "workers on a local Ray instance or a cluster (pip install \"rcx[ray]\")", choices=EXECUTORS),
    Option("address", str, None, "ray: join a running cluster (auto: the one this machine belongs to) instead of "
           "starting a private local instance; Ray Client addresses (ray://) are not supported"),
    Option("workers", int, None, "ray: workers (default: as many as the resources allow)", min=1),
    Option("gpus_per_worker", float, None, "ray: GPU share of each worker (default 1 on a CUDA plan, else 0; "
           "0.25 = four per GPU)", min=0),
    Option("cpus_per_worker", float, 1.0, "ray: CPUs reserved per worker (default 1)", min=0, gt_min=True),
    Option("threads_per_worker", int, None, "ray: torch CPU threads per worker (default: its CPUs)", min=1),
    Option("worker_timeout", float, None, f"ray: seconds a worker may wait to be placed on a node (default "
           f"{WORKER_TIMEOUT:g}); one that waits longer is reported as failed to start, with Ray's reason, and the "
           "run goes on with the others; when no worker is left (the node's raylet died, no node has room) the run "
           "stops, exit 2, resumable. See docs/faults.md", min=0, gt_min=True),
]
"""The execution settings, one :class:`~rcx.api.options.Option` each: the one declaration that
:class:`ExecutionSettings`' fields, ``rcx run``'s execution flags (``--gpus-per-worker``) and
the TUI's execution form follow. Bounds and types here are what the flags and fields read;
:meth:`ExecutionSettings.problems` says what is wrong, in the flags' words."""


@dataclass(frozen=True)
class ExecutionSettings:
    """How to run a plan (``rcx run --executor ... --workers ...``; the TUI's execution section).

    ``address``: None starts a private local Ray instance; ``auto`` joins the cluster this
    machine belongs to (``ray start``); ``HOST:PORT`` a head node's GCS. ``workers``: None ->
    as many as the resources allow (GPUs / ``gpus_per_worker`` on a GPU plan, else CPUs /
    ``cpus_per_worker``). ``gpus_per_worker``: None -> 1 for a CUDA plan, 0 for a CPU plan
    (fractional: 0.25 puts four workers on one GPU). ``threads_per_worker``: torch CPU threads
    of each worker (None -> ``cpus_per_worker`` rounded, at least 1). ``worker_timeout``: seconds
    a worker may wait to be placed on a node (None -> :data:`WORKER_TIMEOUT`); one that waits
    longer is reported as failed to start, with Ray's reason, and the run goes on with the others;
    when no worker is left (the node's raylet died, the cluster lost its nodes), the run stops
    with that reason and stays resumable. Ray Client addresses (``ray://``) are not supported:
    Ray Client cannot stream an evaluation's messages back (streaming actor calls).
    """

    executor: str = "in-process"
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    cpus_per_worker: float = 1.0
    threads_per_worker: int | None = None
    worker_timeout: float | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> ExecutionSettings:
        """Settings from ``values`` keyed by :data:`EXECUTION_OPTIONS`' names; a missing or None
        value takes the option's default (unchecked: see :meth:`problems`)."""
        return cls(**{o.name: o.default if values.get(o.name) is None else values[o.name] for o in EXECUTION_OPTIONS})

    def timeout(self) -> float:
        """Seconds a worker may wait to be placed: ``worker_timeout`` or :data:`WORKER_TIMEOUT`."""
        return WORKER_TIMEOUT if self.worker_timeout is None else float(self.worker_timeout)

    def problems(self) -> list[str]:
        """What is wrong with these settings, one message each (empty: usable)."""
        out = []
        if self.executor not in EXECUTORS:
            out.append(f"executor {self.executor!r}: expected one of {', '.join(EXECUTORS)}")
        if self.workers is not None and self.workers < 1:
            out.append(f"workers {self.workers}: expected at least 1")
        if self.gpus_per_worker is not None and not 0 <= self.gpus_per_worker:
            out.append(f"gpus per worker {self.gpus_per_worker}: expected 0 or more (0.25: four workers per GPU)")
        gpus = self.gpus_per_worker
        if gpus is not None and gpus > 1 and gpus != int(gpus):
            out.append(f"gpus per worker {self.gpus_per_worker}: above 1 it must be a whole number")
        if not self.cpus_per_worker > 0:
            out.append(f"cpus per worker {self.cpus_per_worker}: expected more than 0")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            out.append(f"threads per worker {self.threads_per_worker}: expected at least 1")
        if self.worker_timeout is not None and not 0 < self.worker_timeout < float("inf"):
            out.append(f"worker timeout {self.worker_timeout}: expected seconds above 0")
        if self.address is not None and self.address.startswith("ray://"):
            out.append(f"--address {self.address}: Ray Client addresses (ray://) are not supported, as Ray Client "
                       "cannot stream results back; run rcx on a node of the cluster with --address auto, or give "
                       "the head node's HOST:PORT (port 6379 by default)")
        if self.executor == "in-process":
            given = [flag for flag, value in (("--address", self.address), ("--workers", self.workers),
                                              ("--gpus-per-worker", self.gpus_per_worker),
                                              ("--threads-per-worker", self.threads_per_worker),
                                              ("--worker-timeout", self.worker_timeout)) if value is not None]
            if self.cpus_per_worker != 1.0:
                given.append("--cpus-per-worker")
            if given:
                out.append(f"{', '.join(given)} only apply to --executor ray")
        return out

    def threads(self) -> int:
        """Torch CPU threads of each worker."""
        return self.threads_per_worker or max(1, int(self.cpus_per_worker))

    def describe(self) -> str:
        """One line, e.g. ``ray (local), 2 workers x 1 CPU, 1 thread``."""
        if self.executor != "ray":
            return self.executor
        where = self.address or "local"
        workers = f"{self.workers} workers" if self.workers else "workers as resources allow"
        gpus = f", {self.gpus_per_worker:g} GPU" if self.gpus_per_worker else ""
        return f"ray ({where}), {workers} x {self.cpus_per_worker:g} CPU{gpus}, {self.threads()} thread(s)"


def ray_available() -> bool:
    """True when Ray can be imported (without importing it)."""
    return importlib.util.find_spec("ray") is not None
