"""The runner: a plan becomes candidates x evaluators, each outcome goes to the store.

The runner is headless and single-threaded; the CLI calls :meth:`Runner.run` in the main
thread, the TUI in a worker thread. It reports through ``on_event`` callbacks and stops between
evaluations (and, through ``EvalContext.check_cancel``, between batches) when ``cancel`` is set;
while ``pause`` is set it waits before starting the next evaluation.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

import rcx
from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.dataset import ImageDataset
from rcx.api.evaluator import Cancelled, EvalContext, EvalResult, Evaluator, InvalidArchitecture, RunContext
from rcx.api.seeding import derive_seed
from rcx.core import events as ev
from rcx.core.device import device_name, resolve_device, use_threads
from rcx.core.failures import format_traceback
from rcx.core.plan import Plan
from rcx.core.store import Store, StoreError, UnstorableValue, plain_json
from rcx.plugin_checks import ResultChecker
from rcx.plugins import Registry


class Executor(Protocol):
    """Runs one (candidate, evaluator) evaluation. In-process today; a distributed executor
    would ship (plan, arch id, evaluator instance, seed) to a worker and return the result."""

    def run(self, evaluator: Evaluator, ctx: EvalContext) -> EvalResult: ...


class InProcessExecutor:
    def run(self, evaluator: Evaluator, ctx: EvalContext) -> EvalResult:
        return evaluator.evaluate(ctx)


class PlanMismatch(StoreError):
    """The results file holds a run of a different plan."""


class DataMismatch(ValueError):
    """The loaded dataset cannot serve the plan (e.g. an evaluator wants more images than it has)."""


@dataclass
class Candidate:
    index: int
    arch: Arch
    info: ArchInfo


def load_data(plan: Plan, registry: Registry) -> ImageDataset:
    """Load the plan's dataset through its provider and apply the common options."""
    from rcx.data.cache import cache_dir
    from rcx.data.prepare import COMMON_OPTIONS, prepare

    common = {o.name for o in COMMON_OPTIONS}
    provider = registry.get("dataset", plan.dataset)()
    raw = provider.load({k: v for k, v in plan.dataset_options.items() if k not in common}, cache_dir())
    return prepare(raw, {k: v for k, v in plan.dataset_options.items() if k in common}, plan.seed)


def make_candidates(plan: Plan, space: SearchSpace, in_shape: tuple[int, int, int]) -> list[Candidate]:
    """The sampler's architectures, each described at the dataset's input shape."""
    from rcx.spaces.samplers import sample

    s = plan.sampler
    archs = sample(space, s["kind"], s["n"], plan.seed, s["valid_only"], in_shape)
    return [Candidate(i, a, space.describe(a, in_shape)) for i, a in enumerate(archs)]


class Runner:
    """Runs a validated plan against a results store."""

    def __init__(
        self,
        plan: Plan,
        registry: Registry,
        on_event: Callable[[ev.Event], None] = lambda e: None,
        cancel: threading.Event | None = None,
        executor: Executor | None = None,
        pause: threading.Event | None = None,
        threads: int | None = None,
    ) -> None:
        self.plan = plan
        self.registry = registry
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self.pause = pause or threading.Event()  # while set, the run waits before its next evaluation
        self.executor = executor or InProcessExecutor()
        self.threads = threads  # torch CPU threads; None: $RCX_THREADS, else rcx.core.device.auto_threads()
        self.store: Store | None = None
        self.device: torch.device | None = None
        self.data: ImageDataset | None = None
        self.space: SearchSpace | None = None
        self.candidates: list[Candidate] = []
        self.evaluators: list[tuple[str, Evaluator]] = []
        self.checker = ResultChecker(warn=lambda m: self._log("warning", m), dists=registry.dists("evaluator"))

    def setup(self) -> None:
        """Resolve the device, load the data, sample and describe the candidates.

        Writes nothing: a missing dataset or device fails here, before any results file exists.
        """
        with use_threads(self.threads):
            self._setup()

    def _setup(self) -> None:
        plan = self.plan
        self.device = resolve_device(plan.device)
        self._log("info", f"loading dataset {plan.dataset!r}")
        self.data = load_data(plan, self.registry)
        self.space = self.registry.get("space", plan.space)(**plan.space_options)
        self.candidates = make_candidates(plan, self.space, self.data.shape)
        self.evaluators = [(s.instance, self.registry.get("evaluator", s.plugin)(s.options)) for s in plan.evaluators]
        self._check_data()

    def _check_data(self) -> None:
        """The evaluators' plan checks against the dataset's real split sizes, before anything
        is written: :class:`DataMismatch` listing every problem."""
        assert self.data is not None
        n_train, n_test = int(self.data.train_y.numel()), int(self.data.test_y.numel())
        sizes = {**self.plan.dataset_options, "train_size": n_train, "test_size": n_test}
        problems = [f"evaluators.{inst}.{key}: {msg}" for inst, e in self.evaluators for key, msg in e.check_plan(sizes)]
        if problems:
            raise DataMismatch(f"dataset {self.plan.dataset!r} has {n_train} training and {n_test} test images "
                               f"(dataset.train_size/test_size count them): {'; '.join(problems)}")

    def _prepare_evaluators(self) -> None:
        assert self.data is not None and self.space is not None and self.device is not None
        run_ctx = RunContext(data=self.data, space=self.space, device=self.device, seed=self.plan.seed)
        for _, evaluator in self.evaluators:
            evaluator.prepare(run_ctx)

    def check_store(self, store: Store, new_run: bool = False) -> tuple[int, bool]:
        """``(run id, True)`` to resume the run of this plan, ``(0, False)`` for a new run.

        Raises :class:`PlanMismatch` when the file holds a different plan and ``new_run`` is off.
        """
        runs = store.runs()
        same = [r for r in runs if r.plan_hash == self.plan.hash]
        if same and not new_run:
            return same[-1].id, True
        if runs and not new_run:
            other = runs[-1]
            raise PlanMismatch(
                f"{store.path} holds run {other.id} ({other.name!r}) of a different plan. Use another --db, "
                "or pass --new-run to add a separate run to this file."
            )
        return 0, False

    def run(self, store: Store, new_run: bool = False, retry_failed: bool = False) -> int:
        """Run (or resume) the plan into ``store``; returns the run id. Calls :meth:`setup` if needed.

        Torch's CPU thread count is set (see :func:`~rcx.core.device.use_threads`) for the run
        and restored afterwards; the count goes into the run's recorded device name.
        """
        with use_threads(self.threads) as (threads, reason):
            self._log("info", f"torch CPU threads: {threads} ({reason})")
            return self._run(store, new_run, retry_failed)

    def _run(self, store: Store, new_run: bool, retry_failed: bool) -> int:
        t0 = time.perf_counter()
        if self.data is None:
            self._setup()
        assert self.device is not None and self.data is not None and self.space is not None
        plan, device, data = self.plan, self.device, self.data
        self.store = store
        run_id, resumed = self.check_store(store, new_run)

        versions = {"rcx": rcx.__version__, "torch": torch.__version__, **self.registry.versions()}
        if resumed:
            store.set_run_state(run_id, "running", versions=versions, device=str(device), device_name=device_name(device))
            dropped = store.reset_unfinished(run_id, retry_failed)
            if dropped:
                self._log("info", f"resuming: {dropped} unfinished evaluation(s) will run again", run_id)
        else:
            self._prepare_evaluators()  # before the run is written: a failure here leaves no empty run
            dataset_meta = {
                "name": data.name, "shape": list(data.shape), "train": int(data.train_y.numel()),
                "test": int(data.test_y.numel()), "classes": data.classes,
            }
            run_id = store.create_run(
                name=plan.name, plan_text=plan.text, plan=plan.normalized(), plan_hash=plan.hash, versions=versions,
                device=str(device), device_name=device_name(device), dataset=dataset_meta,
            )
        store.add_candidates(
            run_id,
            ((c.index, c.arch.id, c.arch.params, c.info.summary(), c.info.valid, c.info.reason) for c in self.candidates),
        )

        finished = store.finished_keys(run_id)
        total = len(self.candidates) * len(self.evaluators)
        self.on_event(ev.RunStarted(
            run_id, total, len(finished), len(self.candidates), tuple(n for n, _ in self.evaluators), resumed, str(device),
            {n: e.headline_metrics() for n, e in self.evaluators},
        ))

        cancelled = False
        try:
            if resumed and len(finished) < total:
                self._prepare_evaluators()
            for cand in self.candidates:
                for instance, evaluator in self.evaluators:
                    if (cand.arch.id, instance) in finished:
                        continue
                    self._wait_while_paused()
                    if self.cancel.is_set():
                        raise Cancelled()
                    self._evaluate(run_id, cand, instance, evaluator, device)
        except Cancelled:
            cancelled = True
            self._log("warning", "run cancelled; run the same plan again to resume", run_id)
        finally:
            counts = store.counts(run_id)
            complete = not cancelled and sum(n for s, n in counts.items() if s != "running") >= total
            store.set_run_state(run_id, "finished" if complete else "interrupted")
            self.on_event(ev.RunFinished(run_id, counts, time.perf_counter() - t0, cancelled))
        return run_id

    def _wait_while_paused(self) -> None:
        """Block between evaluations while ``pause`` is set; ``cancel`` ends the wait at once."""
        while self.pause.is_set() and not self.cancel.is_set():
            self.cancel.wait(0.05)

    # -- one evaluation ------------------------------------------------------------------------
    def _evaluate(self, run_id: int, cand: Candidate, instance: str, evaluator: Evaluator, device: torch.device) -> None:
        assert self.store is not None
        arch_id = cand.arch.id
        seed = derive_seed(self.plan.seed, instance, arch_id)
        if not cand.info.valid:
            self.store.finish_evaluation(run_id, arch_id, instance, "invalid", error=cand.info.reason, seed=seed)
            self.on_event(ev.EvalFinished(arch_id, instance, "invalid", error=cand.info.reason))
            return

        self.store.start_evaluation(run_id, arch_id, instance, seed, str(device))
        self.on_event(ev.EvalStarted(arch_id, instance))
        ctx = EvalContext(
            arch=cand.arch, info=cand.info, seed=seed, device=device, cancel_event=self.cancel,
            progress=lambda f, m: self.on_event(ev.EvalProgress(arch_id, instance, f, m)),
            curve=lambda step, epoch, metrics: self._curve_point(run_id, arch_id, instance, step, epoch, metrics),
        )
        t0 = time.perf_counter()
        try:
            result = self.executor.run(evaluator, ctx)
        except Cancelled:
            self.store.cancel_evaluation(run_id, arch_id, instance)
            raise
        except KeyboardInterrupt:
            self.store.cancel_evaluation(run_id, arch_id, instance)
            raise
        except InvalidArchitecture as exc:
            self._finish(run_id, arch_id, instance, "invalid", {}, [], {}, str(exc), time.perf_counter() - t0)
            return
        except torch.OutOfMemoryError as exc:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            msg = f"out of memory on {device}: {str(exc).splitlines()[0]} (lower the evaluator's batch_size)"
            self._finish(run_id, arch_id, instance, "failed", {}, [], {}, msg, time.perf_counter() - t0)
            return
        except Exception as exc:  # one failing architecture never stops the run
            msg = f"{type(exc).__name__}: {exc}"
            self._finish(run_id, arch_id, instance, "failed", {}, [], {"traceback": format_traceback()}, msg,
                         time.perf_counter() - t0)
            return
        status, error = self.checker.check(evaluator, result.status, result.metrics, instance)  # rcx.plugin_checks
        self._finish(run_id, arch_id, instance, status, result.metrics, result.trials, result.extra, error,
                     time.perf_counter() - t0)

    def _finish(self, run_id: int, arch_id: str, instance: str, status: str, metrics: dict[str, Any],
                trials: list[dict[str, Any]], extra: dict[str, Any], error: str, seconds: float) -> None:
        assert self.store is not None
        try:
            metrics, trials = plain_json(metrics, "metrics"), plain_json(trials, "trials")
            extra = plain_json(extra, "extra", lenient=True)
        except UnstorableValue as exc:  # that evaluation fails; the run goes on
            status, metrics, trials, extra, error = "failed", {}, [], {}, f"the result cannot be stored: {exc}"
        self.store.finish_evaluation(run_id, arch_id, instance, status, metrics=metrics, trials=trials, extra=extra,
                                     error=error, seconds=seconds)
        if status == "failed":
            self._log("error", f"{arch_id} / {instance}: {error}", run_id)
        self.on_event(ev.EvalFinished(arch_id, instance, status, metrics, seconds, error))

    def _curve_point(self, run_id: int, arch_id: str, instance: str, step: int, epoch: float,
                     metrics: dict[str, Any]) -> None:
        assert self.store is not None
        metrics = plain_json(metrics, "curve point")
        self.store.add_curve_point(run_id, arch_id, instance, step, epoch, metrics)
        self.on_event(ev.CurvePoint(arch_id, instance, int(step), float(epoch), metrics))

    def _log(self, level: str, message: str, run_id: int | None = None) -> None:
        if run_id and self.store is not None:
            self.store.log(run_id, level, message)
        self.on_event(ev.Log(level, message))
