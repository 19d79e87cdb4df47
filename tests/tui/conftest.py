"""Helpers for the TUI tests: a deterministic results file and a Pilot wait loop."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")


def ksd_results_file(path: Path, registry, name: str, evaluators: str, archs_at: list[int], seed: int = 0,
                     n: int = 40) -> tuple[Any, int, list[Any], list[Any]]:
    """An open :class:`~rcx.core.store.Store` at ``path`` holding one run of a plan named
    ``name`` (ksd space, 8 channels, synthetic 3x32x32 data, an exhaustive sampler of ``n``,
    the ``[evaluators...]`` tables ``evaluators``) and, as its candidates, the architectures at
    the indices ``archs_at``: ``(store, run_id, archs, infos)``; the caller adds evaluations,
    sets the run's state and closes the store."""
    from rcx.core.plan import parse_plan
    from rcx.core.store import Store

    text = (f'name = "{name}"\nseed = {seed}\ndevice = "cpu"\noutput = "{path}"\n[dataset]\nname = "synthetic"\n'
            f'[space]\nname = "ksd"\nchannels = 8\n[sampler]\nkind = "exhaustive"\nn = {n}\n' + evaluators)
    plan = parse_plan(text, registry)
    space = registry.get("space", "ksd")(channels=8)
    archs = [space.arch_at(i) for i in archs_at]
    infos = [space.describe(a, (3, 32, 32)) for a in archs]
    store = Store.open(path)
    run_id = store.create_run(name=plan.name, plan_text=text, plan=plan.normalized(), plan_hash=plan.hash,
                              versions={"rcx": "test"}, device="cpu", device_name="cpu (test)",
                              dataset={"name": "synthetic", "shape": [3, 32, 32]})
    store.add_candidates(run_id, ((i, a.id, a.params, inf.summary(), inf.valid, inf.reason)
                                  for i, (a, inf) in enumerate(zip(archs, infos))))
    return store, run_id, archs, infos


def fixed_results(path: Path, registry, n: int = 12, running: bool = False) -> Path:
    """A results file with fixed metrics (no evaluation runs), for stable screenshots.

    Candidates are the first ``n`` ksd architectures at 3x32x32; the last one failed and,
    with ``running``, the run is left in progress with its last two candidates unevaluated.
    """
    store, run_id, archs, infos = ksd_results_file(path, registry, "fixed", '[evaluators.ridge_rfm]\ntrials = 2\n',
                                                   [i * 997 for i in range(n)])
    last = n - 3 if running else n - 1
    for i, (a, inf) in enumerate(zip(archs, infos)):
        if i > last:
            break
        if not inf.valid:
            store.finish_evaluation(run_id, a.id, "ridge_rfm", "invalid", error=inf.reason, seed=i)
        elif i == last:
            store.finish_evaluation(run_id, a.id, "ridge_rfm", "failed", error="RuntimeError: boom", seed=i,
                                    extra={"traceback":
                                           "Traceback (most recent call last):\n  ...\nRuntimeError: boom"})
        else:
            acc = 0.1 + 0.05 * ((i * 7) % 11)
            metrics = {"val_acc": acc, "val_acc_std": 0.01, "throughput": 1000.0 * (1 + (i * 5) % 9), "trials": 2}
            store.finish_evaluation(run_id, a.id, "ridge_rfm", "done", metrics=metrics, seed=i, seconds=0.5,
                                    trials=[{"val_acc": acc - 0.01, "train_acc": 0.9},
                                            {"val_acc": acc + 0.01, "train_acc": 0.91}])
    store.set_run_state(run_id, "running" if running else "finished")
    store.close()
    return path


def synthetic_results(path: Path, registry, n: int, done: int | None = None, seed: int = 0) -> Path:
    """A results file of the first ``n`` ksd architectures (8 channels, 3x32x32) scored by two
    ``ridge_rfm`` instances, ``ridge_a`` and ``ridge_b``, with synthetic correlated metrics.

    The first ``done`` candidates (all by default) are evaluated; the run stays ``running`` when
    some are not. Written with the Store API in one transaction, so 30,000 rows take seconds.
    """
    import random

    store, run_id, archs, infos = ksd_results_file(
        path, registry, "synthetic", '[evaluators.ridge_a]\nevaluator = "ridge_rfm"\ntrials = 1\n'
        '[evaluators.ridge_b]\nevaluator = "ridge_rfm"\ntrials = 2\n', list(range(n)), seed=seed, n=n)
    done = n if done is None else done
    for i, (a, inf) in enumerate(zip(archs[:done], infos)):
        if not inf.valid:
            for inst in ("ridge_a", "ridge_b"):
                store.finish_evaluation(run_id, a.id, inst, "invalid", error=inf.reason, seed=i)
            continue
        rng = random.Random(seed * 1_000_003 + i)
        acc = 0.1 + 0.3 * rng.random()
        for inst, value in (("ridge_a", acc), ("ridge_b", acc + 0.05 * rng.gauss(0, 1))):
            store.finish_evaluation(run_id, a.id, inst, "done", seed=i, seconds=0.1,
                                    metrics={"val_acc": value, "val_acc_std": 0.01, "throughput": 100.0 + i % 97})
    store.set_run_state(run_id, "finished" if done == n else "running")
    store.close()
    return path


def finish_pending(path: Path, archs: list[str]) -> None:
    """What a run of :func:`synthetic_results` does next: ``archs``' evaluations finish."""
    from rcx.core.store import Store

    store = Store.open(path)
    try:
        run = store.run()
        for i, arch in enumerate(archs):
            for inst in ("ridge_a", "ridge_b"):
                store.finish_evaluation(run.id, arch, inst, "done", seed=i, seconds=0.1,
                                        metrics={"val_acc": 0.2 + i / 1000, "val_acc_std": 0.01, "throughput": 50.0})
        store.set_run_state(run.id, "finished")
    finally:
        store.close()


HANG_GUARD = 600.0
"""Seconds after which a wait gives up: only a guard against a hang, never a speed check (a
loaded 2-core machine may take minutes where a quiet one takes a second)."""


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = HANG_GUARD, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds (``timeout`` only guards against a hang)."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"no {what} after {timeout:.0f} s: the app seems to hang")
        await pilot.pause()  # until the process is idle (at most 1 s): messages, timers, workers' posts
    await asyncio.sleep(0)


async def settle(pilot) -> None:
    """Wait until the app says its screen shows its current state (:meth:`RcxApp.is_settled`)
    and nothing is animated: what a snapshot must be taken after, instead of a sleep."""
    await wait_for(pilot, pilot.app.is_settled, what="settled screen")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    await wait_for(pilot, pilot.app.is_settled, what="settled screen")


def sync(test: Callable) -> Callable:
    """Run an ``async def`` test in its own event loop (no async pytest plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper
