"""Shared by the Ray tests: skip cleanly without Ray, a gate evaluator, and one local Ray instance.

``gate`` (a test-only evaluator plugin) scores an architecture by its parameter count and
leaves a file ``<dir>/<arch>.<pid>.<n>.started`` for every attempt. The architecture named by
its ``hold`` option (``*``: every architecture) then waits, checking for a cancel, until
``<dir>/release`` exists: a test
sees the started file, knows which worker process holds the evaluation (the pid in the name)
and kills it or cancels the run at exactly that point, with no race against timing.

Ray workers find the plugin through a fake distribution on their ``PYTHONPATH``
(:func:`ray_env`); the driver, when it runs in the test process, through ``load_registry``.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from rcx.api.evaluator import EvalContext, EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric, Option

from .conftest import ROOT, fake_dist

ray = pytest.importorskip("ray", reason="the Ray executor's tests need the extra: pip install 'rcx[ray]'")

_attempts = itertools.count()


class Gate(Evaluator):
    """Parameter count; the ``hold`` architecture waits for ``<dir>/release`` (see module)."""

    name = "gate"
    options = [Option("dir", str, "", "folder for the started/release files"),
               Option("hold", str, "", "architecture id that waits for <dir>/release (*: every one)")]
    metrics = [Metric("params", "count", False, "the architecture's parameter count")]

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        folder = Path(self.config["dir"])
        (folder / f"{ctx.arch.id}.{os.getpid()}.{next(_attempts)}.started").touch()
        if self.config["hold"] in (ctx.arch.id, "*"):
            while not (folder / "release").exists():
                ctx.check_cancel()
                time.sleep(0.02)
        return EvalResult("done", {"params": float(ctx.info.params)})


@hookimpl
def rcx_register_evaluators(register) -> None:
    register(Gate)


def started(folder: Path, arch: str) -> list[int]:
    """Worker pids of every attempt at ``arch`` so far, in no particular order."""
    return [int(p.name.split(".")[-3]) for p in folder.glob(f"{arch}.*.started")]


def wait_started(folder: Path, arch: str, attempts: int = 1, deadline_s: float = 300) -> list[int]:
    """Block until ``arch`` was started ``attempts`` times (a hang guard, not a speed bound)."""
    end = time.monotonic() + deadline_s
    while len(pids := started(folder, arch)) < attempts:
        assert time.monotonic() < end, f"{arch} never started {attempts} time(s)"
        time.sleep(0.05)
    return pids


def wait_workers_held(folder: Path, workers: int, deadline_s: float = 300) -> None:
    """Block until ``workers`` distinct worker processes have started an evaluation (with
    ``hold = "*"``: until every worker is held; a hang guard, not a speed bound)."""
    end = time.monotonic() + deadline_s
    while len({int(p.name.split(".")[-3]) for p in folder.glob("*.started")}) < workers:
        assert time.monotonic() < end, f"fewer than {workers} workers started an evaluation"
        time.sleep(0.05)


def ray_env(tmp: Path) -> dict[str, str]:
    """Environment of Ray workers started for tests: the gate plugin's fake distribution and
    rcx on the path, and the tests' cache folder."""
    site = tmp / "site"
    if not site.exists():
        fake_dist(site, "rcx-test-gate", "tests.ray_gate")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "RCX_CACHE_DIR": str(tmp / "rcx-cache")}


class ray_environment:
    """``with ray_environment(tmp):`` -- :func:`ray_env` set in this process while Ray's own
    processes start (they inherit it, so every job's workers do, also a driver's that joins)."""

    def __init__(self, tmp: Path) -> None:
        self.env = ray_env(tmp)
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.env.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_local_ray(tmp: Path, num_cpus: int = 2) -> str:
    """A local Ray instance for a test module (the Ray executor reuses an initialised Ray);
    returns its address for drivers in other processes."""
    import logging

    with ray_environment(tmp):
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    return ray.get_runtime_context().gcs_address


def gate_plan(tmp_path: Path, folder: Path, hold: str = "", n: int = 6, **kw) -> Path:
    """The tiny ridge plan plus a ``gate`` evaluator (folder ``folder``, holding ``hold``)."""
    from .conftest import tiny_plan

    folder.mkdir(parents=True, exist_ok=True)
    return tiny_plan(tmp_path, n=n, extra=f'[evaluators.gate]\ndir = "{folder}"\nhold = "{hold}"\n', **kw)
