"""The runner: a plan becomes tasks (candidate x evaluator), each outcome goes to the store.

The runner is the driver of a run and the only writer of its results file. It sets the run up
(:mod:`rcx.core.setup`: dataset, space, candidates, evaluators), lets a
:class:`~rcx.core.schedule.Schedule` decide the evaluations (stages, search) and hands them as
small, picklable :class:`Task` s to an executor (``rcx.exec``, which the core never imports:
the in-process and Ray executors) or, without one, evaluates them itself one after another
(:meth:`Runner.execute_here`). Executors report back through the runner's
:meth:`Runner.task_started`, :meth:`Runner.record`, :meth:`Runner.curve_point` and
:meth:`Runner.progress`, which its :class:`~rcx.core.recorder.Recorder` stores and reports.
Every executor turns an evaluation into its :class:`Outcome` with the one function
:func:`evaluate_one`.

The CLI calls :meth:`Runner.run` in the main thread, the TUI in a worker thread. It reports
through ``on_event`` callbacks and stops between evaluations (and, through
``EvalContext.check_cancel``, between batches) when ``cancel`` is set; while ``pause`` is set
no new evaluation starts.
"""

from __future__ import annotations

import gc
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import rcx
from rcx.api.arch import SearchSpace
from rcx.api.dataset import ImageDataset
from rcx.api.evaluator import Cancelled, EvalContext, Evaluator, InvalidArchitecture
from rcx.core import events as ev
from rcx.core.cputime import cpu_stopwatch, main_thread_clock
from rcx.core.device import device_name, resolve_device, use_threads
from rcx.core.failures import format_traceback
from rcx.core.plan import Plan
from rcx.core.recorder import Recorder
from rcx.core.schedule import Schedule
from rcx.core.setup import Candidate, DataMismatch, RunSetup, check_data, make_candidates, prepare_evaluators, set_up
from rcx.core.stages import stage_numbers
from rcx.core.store import Store, StoreError, UnstorableValue, plain_json
from rcx.plugin_checks import ResultChecker, nonfinite_message, nonfinite_values
from rcx.plugins import Registry

__all__ = ["CANCELLED", "Candidate", "DataMismatch", "ExecutorError", "Outcome", "PlanMismatch", "Runner", "Task",
           "evaluate_one"]


CANCELLED = "cancelled"
"""The :attr:`Outcome.status` of an evaluation stopped by a cancel: nothing is stored for it."""


@dataclass(frozen=True)
class Task:
    """One evaluation to run: small and picklable, so it can travel to another process.

    ``index`` is the candidate's position in the plan's sample, ``arch`` its canonical id,
    ``evaluator`` the evaluator instance name, ``seed`` the evaluation's seed (derived from the
    plan seed, the instance and the architecture id), ``plan_hash`` the plan it belongs to (a
    worker refuses a task of another plan).
    """

    index: int
    arch: str
    evaluator: str
    seed: int
    plan_hash: str

    @property
    def key(self) -> tuple[str, str]:
        return self.arch, self.evaluator


@dataclass
class Outcome:
    """What one evaluation came to, ready to store (plain JSON values only, picklable).

    ``status``: a final state (``done``, ``screened``, ``invalid``, ``failed``, ``diverged``,
    any status the evaluator declares) or :data:`CANCELLED`. ``oom``: the failure was an
    out-of-memory error. ``extra["traceback"]`` holds the traceback of an exception.
    ``seconds``: wall time of the evaluation on its worker; ``cpu_s``: its CPU time in
    core-seconds (:func:`evaluate_one`), None where it was never measured (a cancel before the
    start, a worker lost).
    """

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    oom: bool = False
    cpu_s: float | None = None  # CPU seconds the evaluation took (see evaluate_one); None: not measured
    returned: str = ""  # the status the evaluator returned (empty when it raised): the driver checks it
    nonfinite: tuple[str, ...] = ()  # key paths of NaN/infinite values the evaluator returned (then failed)

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED


def evaluate_one(evaluator: Evaluator, ctx: EvalContext) -> Outcome:
    """Run ``evaluator`` on one candidate and turn whatever happens into its :class:`Outcome`,
    with the CPU seconds it took (``cpu_s``; the mapping itself is :func:`_outcome`).

    The CPU time (:mod:`rcx.core.cputime`) is the delta of this process's CPU clock
    (:func:`time.process_time`, the same count as ``getrusage(RUSAGE_SELF)``: user + system time
    of every thread of the process) around the evaluation, less the main thread's own CPU time
    over the same span when the evaluation runs in another thread and the platform has
    per-thread clocks (Linux): the TUI draws its screen in the main thread while its run's
    evaluations go on in a worker thread, and a Ray worker waits there. Every other thread
    counts, so torch's intra-op pool, BLAS threads and any thread the evaluator starts are
    included, and other processes sharing the cores are not: the figure is the evaluation's
    cost in core-seconds, steady on a busy machine where its wall time is not. It is exact when
    the process runs one evaluation at a time, which every executor does (the in-process
    executor runs tasks one after another; each Ray worker runs one task at a time in its own
    process), and nothing but the main thread works meanwhile on something else: other Python
    threads still count (the TUI's reloads of the results file, a small overcount), as does
    the main thread where no per-thread clock exists (Windows). A thread's own clock
    (:func:`time.thread_time`) would miss torch's worker threads, so it is not used alone.
    Child processes are not counted (no shipped evaluator starts one). On a GPU it is the
    host's CPU time only.
    """
    count = cpu_stopwatch(others=main_thread_clock())
    outcome = _outcome(evaluator, ctx)
    outcome.cpu_s = count()
    return outcome


def _outcome(evaluator: Evaluator, ctx: EvalContext) -> Outcome:
    """Run ``evaluator`` on one candidate and turn whatever happens into its :class:`Outcome`.

    The one place that maps an evaluation to its outcome, for every executor: a result with a
    declared status (values made plain JSON; an unstorable value fails the evaluation, and so
    does a NaN or infinite metric, named in the error),
    :class:`InvalidArchitecture` -> ``invalid``, out of memory -> ``failed`` (``oom``, with
    advice), any other exception -> ``failed`` with its traceback, :class:`Cancelled` ->
    :data:`CANCELLED`. ``KeyboardInterrupt`` propagates.
    """
    t0 = time.perf_counter()
    oom = ""
    try:
        result = evaluator.evaluate(ctx)
    except Cancelled:
        return Outcome(CANCELLED, seconds=time.perf_counter() - t0)
    except InvalidArchitecture as exc:
        return Outcome("invalid", error=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # one failing architecture never stops the run
        if not is_out_of_memory(exc):
            return Outcome("failed", extra={"traceback": format_traceback()}, error=f"{type(exc).__name__}: {exc}",
                           seconds=time.perf_counter() - t0)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        oom = f"out of memory on {ctx.device}: {first} ({evaluator.out_of_memory_hint})"
    if oom:  # out of the except clause: the traceback's frames and their tensors are gone
        if ctx.device.type == "cuda":
            gc.collect()
            torch.cuda.empty_cache()  # back to the driver, for the next evaluation and other workers
        return Outcome("failed", error=oom, seconds=time.perf_counter() - t0, oom=True)
    seconds = time.perf_counter() - t0
    status, error = result.status, ""
    if status not in evaluator.statuses or status in ("running", CANCELLED):  # else never final, or never stored
        return Outcome("failed", seconds=seconds, returned=str(status), error=(
            f"the evaluator returned the status {result.status!r}, which it does not declare "
            f"(declared: {', '.join(evaluator.statuses)})"))
    nonfinite = nonfinite_values(result.metrics or {}, result.trials or ())
    if nonfinite:  # JSON has no NaN: stored as null it would pass for a finished result
        return Outcome("failed", seconds=seconds, returned=status, nonfinite=tuple(nonfinite),
                       error=nonfinite_message(nonfinite, result.metrics or {}))
    try:
        metrics, trials = plain_json(result.metrics, "metrics"), plain_json(result.trials, "trials")
        extra = plain_json(result.extra, "extra", lenient=True)
    except UnstorableValue as exc:  # that evaluation fails; the run goes on
        return Outcome("failed", error=f"the result cannot be stored: {exc}", seconds=seconds)
    return Outcome(status, metrics, trials, extra, error, seconds, returned=status)


OOM_MESSAGES = ("out of memory", "CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED")
"""Texts of the errors that are an allocation failure on the device without being a
``torch.OutOfMemoryError``: a ``RuntimeError`` from a CUDA call outside PyTorch's caching
allocator (``CUDA error: out of memory``) or from cuDNN's and cuBLAS's own workspaces."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the device ran out of memory."""
    if isinstance(exc, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)):  # torch < 2.5: cuda's
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in OOM_MESSAGES)


class ExecutorError(Exception):
    """The executor cannot run (its engine is missing, unreachable, or lost every worker):
    one clear message; the results file stays resumable."""


class PlanMismatch(StoreError):
    """The results file ``path`` holds run ``run_id`` (named ``name``) of a different plan; the
    message says what the command line can do about it (an interface with other means words
    its own from the attributes)."""

    def __init__(self, path: Path, run_id: int, name: str) -> None:
        self.path, self.run_id, self.name = path, run_id, name
        super().__init__(f"{path} holds run {run_id} ({name!r}) of a different plan. Use another --db, "
                         "or pass --new-run to add a separate run to this file.")

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with its attributes (the default passes only the message)
        return (PlanMismatch, (self.path, self.run_id, self.name))


class Runner:
    """Runs a validated plan against a results store: the driver of a run.

    The work is split over three helpers: :func:`~rcx.core.setup.set_up` (dataset, space,
    candidates, evaluators), a :class:`~rcx.core.schedule.Schedule` (stages and search: which
    evaluations, in what order) and a :class:`~rcx.core.recorder.Recorder` (the results file
    and the events). ``executor`` runs the tasks (an :class:`rcx.exec.Executor`; built by
    :func:`rcx.exec.build_runner`); without one the runner evaluates them itself, one after
    another in the calling thread (:meth:`execute_here`, the in-process path).
    """

    def __init__(
        self,
        plan: Plan,
        registry: Registry,
        on_event: Callable[[ev.Event], None] = lambda e: None,
        cancel: threading.Event | None = None,
        executor: Any = None,
        pause: threading.Event | None = None,
        threads: int | None = None,
    ) -> None:
        self.plan = plan
        self.registry = registry
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self.pause = pause or threading.Event()  # while set, the run waits before its next evaluation
        self.executor = executor  # None: the in-process path (execute_here)
        self.threads = threads  # torch CPU threads; None: $RCX_THREADS, else rcx.core.device.auto_threads()
        self.device: torch.device | None = None
        self.data: ImageDataset | None = None
        self.space: SearchSpace | None = None
        self.candidates: list[Candidate] = []
        self.evaluators: list[tuple[str, Evaluator]] = []
        checker = ResultChecker(warn=lambda m: self.recorder.log("warning", m), dists=registry.dists("evaluator"))
        self.recorder = Recorder(lambda e: self.on_event(e), checker)  # on_event may be replaced after __init__
        self._setup_done: RunSetup | None = None
        self._by_arch: dict[str, Candidate] = {}

    @property
    def checker(self) -> ResultChecker:
        """The check of returned results against their evaluators' declarations."""
        return self.recorder.checker

    @property
    def store(self) -> Store | None:
        return self.recorder.store

    @property
    def run_id(self) -> int:
        return self.recorder.run_id

    @property
    def runs_here(self) -> bool:
        """True when tasks run in this process on the runner's own (prepared) evaluators."""
        return self.executor is None or self.executor.runs_here

    # -- setup --------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Resolve the device, load the data, sample and describe the candidates.

        Writes nothing: a missing dataset or device fails here, before any results file exists.
        """
        with use_threads(self.threads):
            self._setup()

    def _setup(self) -> None:
        plan = self.plan
        self.device = self.executor.resolve_device(plan.device) if self.executor else resolve_device(plan.device)
        self.recorder.log("info", f"loading dataset {plan.dataset!r}")
        setup = set_up(plan, self.registry)
        self.data, self.space = setup.data, setup.space
        self.candidates = make_candidates(plan, self.space, self.data.shape)
        self.evaluators = list(setup.evaluators.items())
        self._by_arch = {c.arch.id: c for c in self.candidates}
        self.recorder.evaluators = setup.evaluators
        self._setup_done = setup
        check_data(plan, setup)

    def _device_name(self) -> str:
        assert self.device is not None
        return self.executor.device_name(self.device) if self.executor else device_name(self.device)

    def check_store(self, store: Store, new_run: bool = False) -> tuple[int, bool]:
        """``(run id, True)`` to resume the run of this plan, ``(0, False)`` for a new run.

        Raises :class:`PlanMismatch` when the file holds a different plan and ``new_run`` is off.
        """
        runs = store.runs()
        same = [r for r in runs if self.plan.matches(r.plan_hash, r.plan)]
        if same and not new_run:
            return same[-1].id, True
        if runs and not new_run:
            other = runs[-1]
            raise PlanMismatch(store.path, other.id, other.name)
        return 0, False

    # -- the run ------------------------------------------------------------------------------------
    def run(self, store: Store, new_run: bool = False, retry_failed: bool = False) -> int:
        """Run (or resume) the plan into ``store``; returns the run id. Calls :meth:`setup` if needed.

        Torch's CPU thread count is set (see :func:`~rcx.core.device.use_threads`) for the run
        and restored afterwards; the count goes into the run's recorded device name.
        """
        with use_threads(self.threads) as (threads, reason):
            self.recorder.log("info", f"torch CPU threads: {threads} ({reason})")
            return self._run(store, new_run, retry_failed)

    def _run(self, store: Store, new_run: bool, retry_failed: bool) -> int:
        t0 = time.perf_counter()
        if self.data is None:
            self._setup()
        assert self.device is not None and self.data is not None and self.space is not None
        plan, device = self.plan, self.device
        run_id, resumed = self.check_store(store, new_run)
        self.recorder.store, self.recorder.device = store, str(device)
        run_id = self._open_run(store, run_id, resumed, retry_failed)
        schedule = Schedule(plan, self.registry, store, run_id, self.space, self.data.shape, self.candidates,
                            self._by_arch, self.recorder, self._execute, self.cancel, self.wait_while_paused)
        searching = schedule.searching
        if searching:
            schedule.recall_trials()
        finished = store.finished_keys(run_id)
        planned = plan.sampler["trials"] if searching else len(self.candidates)
        self.recorder.begin(store, run_id, stage_numbers([(e.instance, e.stage) for e in plan.evaluators]), planned)
        total = planned * len(self.evaluators)
        self.on_event(ev.RunStarted(
            run_id, total, len(finished), planned, tuple(n for n, _ in self.evaluators), resumed, str(device),
            {n: e.headline_metrics() for n, e in self.evaluators}, self.recorder.skipped(),
        ))
        cancelled = False
        try:
            if resumed and len(finished) < total and self.runs_here:
                self._prepare_evaluators()
            schedule.run(finished)
        except Cancelled:
            cancelled = True
            self.recorder.log("warning", "run cancelled; resume with: rcx run --headless "
                                         f"{shlex.quote(str(plan.output))}", run_id)
        finally:
            counts = store.counts(run_id)
            if searching and not cancelled:  # a repeated proposal reuses a result: fewer evaluations than trials
                total = len(self.candidates) * len(self.evaluators)
            complete = not cancelled and sum(n for s, n in counts.items() if s != "running") >= total
            store.set_run_state(run_id, "finished" if complete else "interrupted")
            self.on_event(ev.RunFinished(run_id, counts, time.perf_counter() - t0, cancelled))
        return run_id

    def _open_run(self, store: Store, run_id: int, resumed: bool, retry_failed: bool) -> int:
        """Resume run ``run_id`` (unfinished evaluations dropped) or create a new run; either way
        the candidates are written. Returns the run id."""
        assert self.device is not None and self.data is not None
        plan, device, data = self.plan, self.device, self.data
        versions = {"rcx": rcx.__version__, "torch": torch.__version__, **self.registry.versions()}
        if resumed:
            store.set_run_state(run_id, "running", versions=versions, device=str(device),
                                device_name=self._device_name())
            dropped = store.reset_unfinished(run_id, retry_failed)
            if dropped:
                self.recorder.log("info", f"resuming: {dropped} unfinished evaluation(s) will run again", run_id)
        else:
            if self.runs_here:  # before the run is written: a failure here leaves no empty run
                self._prepare_evaluators()
            dataset_meta = {
                "name": data.name, "shape": list(data.shape), "train": int(data.train_y.numel()),
                "test": int(data.test_y.numel()), "classes": data.classes,
            }
            run_id = store.create_run(
                name=plan.name, plan_text=plan.text, plan=plan.normalized(), plan_hash=plan.hash, versions=versions,
                device=str(device), device_name=self._device_name(), dataset=dataset_meta,
            )
        store.add_candidates(run_id, ((c.index, c.arch.id, c.arch.params, c.info.summary(), c.info.valid,
                                       c.info.reason) for c in self.candidates))
        return run_id

    def _prepare_evaluators(self) -> None:
        assert self._setup_done is not None and self.device is not None
        prepare_evaluators(self._setup_done, self.device, self.plan.seed)

    def _execute(self, tasks: list[Task]) -> None:
        """Hand ``tasks`` to the executor (or run them here without one)."""
        if self.executor is None:
            self.execute_here(tasks)
        else:
            self.executor.execute(self, tasks)

    def execute_here(self, tasks: list[Task]) -> None:
        """The in-process path: one task after another in the calling thread, on the runner's
        prepared evaluators; stops between tasks on ``pause`` and ``cancel``."""
        for task in tasks:
            self.wait_while_paused()
            if self.cancel.is_set():
                raise Cancelled()
            self.task_started(task)
            try:
                outcome = evaluate_one(self.evaluator(task.evaluator), self.eval_context(task))
            except BaseException:  # KeyboardInterrupt: the row goes, the run stays resumable
                self.record(task, Outcome(CANCELLED))
                raise
            self.record(task, outcome)
            if outcome.cancelled:
                raise Cancelled()

    # -- what executors call (the driver's side: the only writer of the results file) ---------
    def wait_while_paused(self) -> None:
        """Block between evaluations while ``pause`` is set; ``cancel`` ends the wait at once."""
        while self.pause.is_set() and not self.cancel.is_set():
            self.cancel.wait(0.05)

    def evaluator(self, instance: str) -> Evaluator:
        """This process's prepared evaluator instance (in-process execution)."""
        return self.recorder.evaluators[instance]

    def eval_context(self, task: Task) -> EvalContext:
        """The live context of ``task`` in this process: its progress and curve points go
        straight to :meth:`progress` and :meth:`curve_point`."""
        assert self.device is not None
        cand = self._by_arch[task.arch]
        return EvalContext(
            arch=cand.arch, info=cand.info, seed=task.seed, device=self.device, cancel_event=self.cancel,
            progress=lambda f, m: self.progress(task, f, m),
            curve=lambda step, epoch, metrics: self.curve_point(task, step, epoch, metrics),
        )

    def task_started(self, task: Task, worker: str = "", device: str | None = None) -> None:
        """Mark ``task`` running (on ``worker``'s ``device``); a restarted task's old curve goes."""
        self.recorder.task_started(task, worker, device)

    def record(self, task: Task, outcome: Outcome, worker: str = "") -> None:
        """Store ``outcome`` (a cancelled one drops the running row) and report it."""
        self.recorder.record(task, outcome, worker)

    def curve_point(self, task: Task, step: int, epoch: float, metrics: dict[str, Any], worker: str = "") -> None:
        """Store one learning-curve point of ``task`` and report it."""
        self.recorder.curve_point(task, step, epoch, metrics, worker)

    def progress(self, task: Task, fraction: float, message: str, worker: str = "") -> None:
        """Report progress inside ``task``'s evaluation."""
        self.recorder.progress(task, fraction, message, worker)

    def emit(self, event: ev.Event) -> None:
        """Report an executor's own event (e.g. :class:`~rcx.core.events.Workers`)."""
        self.on_event(event)

    def log(self, level: str, message: str) -> None:
        """A line for the run's log (stored with the run) and the reporters."""
        self.recorder.log(level, message, self.run_id or None)
