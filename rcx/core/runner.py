"""The runner: a plan becomes tasks (candidate x evaluator), each outcome goes to the store.

The runner is the driver of a run and the only writer of its results file. It samples and
describes the candidates, records the invalid ones, and hands the rest as small, picklable
:class:`Task` s to an executor (:meth:`Executor.execute`): the default
:class:`InProcessExecutor` runs them one after another in this thread; others (``rcx.exec``,
which the core never imports) run them elsewhere and report back through the runner's
:meth:`Runner.task_started`, :meth:`Runner.record`, :meth:`Runner.curve_point` and
:meth:`Runner.progress`. Every executor turns an evaluation into its :class:`Outcome` with the
one function :func:`evaluate_one`.

The CLI calls :meth:`Runner.run` in the main thread, the TUI in a worker thread. It reports
through ``on_event`` callbacks and stops between evaluations (and, through
``EvalContext.check_cancel``, between batches) when ``cancel`` is set; while ``pause`` is set
no new evaluation starts.
"""

from __future__ import annotations

import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch

import rcx
from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.dataset import ImageDataset
from rcx.api.evaluator import Cancelled, EvalContext, Evaluator, InvalidArchitecture, RunContext
from rcx.api.seeding import derive_seed
from rcx.core import events as ev
from rcx.core.device import device_name, resolve_device, use_threads
from rcx.core.failures import format_traceback
from rcx.core.plan import Plan
from rcx.core.stages import SKIPPED, select, stage_numbers
from rcx.core.store import Store, StoreError, UnstorableValue, plain_json
from rcx.plugin_checks import ResultChecker, nonfinite_message, nonfinite_values
from rcx.plugins import Registry


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

    The CPU time is the delta of this process's CPU clock (:func:`time.process_time`, the same
    count as ``getrusage(RUSAGE_SELF)``: user + system time of every thread of the process)
    around the evaluation. Every thread counts, so torch's intra-op pool, BLAS threads and any
    thread the evaluator starts are included, and other processes sharing the cores are not:
    the figure is the evaluation's cost in core-seconds, steady on a busy machine where its wall
    time is not. It is exact when the process runs one evaluation at a time, which every
    executor does (the in-process executor runs tasks one after another; each Ray worker runs
    one task at a time in its own process). What else the process does meanwhile counts too:
    in the TUI its screen updates (a small overcount), on a Ray worker its message loop (idle
    while it waits). A thread's own clock (:func:`time.thread_time`) would miss torch's worker
    threads, so it is not used. Child processes are not counted (no shipped evaluator starts
    one). On a GPU it is the host's CPU time only.
    """
    c0 = time.process_time()
    outcome = _outcome(evaluator, ctx)
    outcome.cpu_s = time.process_time() - c0
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
    try:
        result = evaluator.evaluate(ctx)
    except Cancelled:
        return Outcome(CANCELLED, seconds=time.perf_counter() - t0)
    except InvalidArchitecture as exc:
        return Outcome("invalid", error=str(exc), seconds=time.perf_counter() - t0)
    except torch.OutOfMemoryError as exc:
        if ctx.device.type == "cuda":
            torch.cuda.empty_cache()
        msg = f"out of memory on {ctx.device}: {str(exc).splitlines()[0]} (lower the evaluator's batch_size)"
        return Outcome("failed", error=msg, seconds=time.perf_counter() - t0, oom=True)
    except Exception as exc:  # one failing architecture never stops the run
        return Outcome("failed", extra={"traceback": format_traceback()}, error=f"{type(exc).__name__}: {exc}",
                       seconds=time.perf_counter() - t0)
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


class ExecutorError(Exception):
    """The executor cannot run (its engine is missing, unreachable, or lost every worker):
    one clear message; the results file stays resumable."""


class Executor(Protocol):
    """Runs a run's tasks. ``execute`` reports through the runner (the driver and only writer
    of the results file): :meth:`Runner.task_started`, :meth:`Runner.record`,
    :meth:`Runner.curve_point`, :meth:`Runner.progress`, :meth:`Runner.emit`; it honours
    ``runner.cancel`` (raise :class:`Cancelled` after recording what finished) and
    ``runner.pause`` (no new task starts while it is set)."""

    name: str
    #: True when tasks run in the driver's process on the runner's own evaluators (prepared
    #: there); False when workers prepare their own.
    runs_here: bool

    def resolve_device(self, spec: str) -> torch.device:
        """The device (kind) the plan's ``device`` means for this executor's workers."""
        ...

    def device_name(self, device: torch.device) -> str:
        """A readable name of where the run computes, stored with the run."""
        ...

    def connect(self) -> None:
        """Reach the engine before the dataset loads (:class:`ExecutorError` when it cannot)."""
        ...

    def close(self) -> None:
        """Release workers and engine; the executor can connect again later."""
        ...

    def execute(self, runner: "Runner", tasks: list[Task]) -> None: ...


class InProcessExecutor:
    """The default: one task after another in the calling thread, on the plan's device."""

    name = "in-process"
    runs_here = True

    def resolve_device(self, spec: str) -> torch.device:
        return resolve_device(spec)

    def device_name(self, device: torch.device) -> str:
        return device_name(device)

    def connect(self) -> None:
        """Nothing to reach."""

    def close(self) -> None:
        """Nothing to release."""

    def execute(self, runner: "Runner", tasks: list[Task]) -> None:
        for task in tasks:
            runner.wait_while_paused()
            if runner.cancel.is_set():
                raise Cancelled()
            runner.task_started(task)
            try:
                outcome = evaluate_one(runner.evaluator(task.evaluator), runner.eval_context(task))
            except BaseException:  # KeyboardInterrupt: the row goes, the run stays resumable
                runner.record(task, Outcome(CANCELLED))
                raise
            runner.record(task, outcome)
            if outcome.cancelled:
                raise Cancelled()


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
    from rcx.api.dataset_cache import cache_dir
    from rcx.core.data_prep import COMMON_OPTIONS, prepare

    common = {o.name for o in COMMON_OPTIONS}
    provider = registry.get("dataset", plan.dataset)()
    raw = provider.load({k: v for k, v in plan.dataset_options.items() if k not in common}, cache_dir())
    return prepare(raw, {k: v for k, v in plan.dataset_options.items() if k in common}, plan.seed)


def make_candidates(plan: Plan, space: SearchSpace, in_shape: tuple[int, int, int]) -> list[Candidate]:
    """The sampler's architectures, each described at the dataset's input shape."""
    from rcx.core.samplers import sample

    s = plan.sampler
    if s["kind"] == "optuna":  # proposed during the run (Runner._search)
        return []
    archs = sample(space, s["kind"], s["n"], plan.seed, s["valid_only"], in_shape, s.get("ids"))
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
        self.run_id = 0
        self._by_arch: dict[str, Candidate] = {}
        self._instances: dict[str, Evaluator] = {}
        self._stage_of: dict[str, int] = {}  # instance -> its stage
        self._tally: dict[str, dict[str, int]] = {}  # instance -> running / done / skipped
        self._planned = 0  # candidates the run will have (a search's trials until it has proposed them)

    def setup(self) -> None:
        """Resolve the device, load the data, sample and describe the candidates.

        Writes nothing: a missing dataset or device fails here, before any results file exists.
        """
        with use_threads(self.threads):
            self._setup()

    def _setup(self) -> None:
        plan = self.plan
        self.device = self.executor.resolve_device(plan.device)
        self._log("info", f"loading dataset {plan.dataset!r}")
        self.data = load_data(plan, self.registry)
        self.space = self.registry.get("space", plan.space)(**plan.space_options)
        self.candidates = make_candidates(plan, self.space, self.data.shape)
        self.evaluators = [(s.instance, self.registry.get("evaluator", s.plugin)(s.options)) for s in plan.evaluators]
        self._by_arch = {c.arch.id: c for c in self.candidates}
        self._instances = dict(self.evaluators)
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
        same = [r for r in runs if self.plan.matches(r.plan_hash, r.plan)]
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
            store.set_run_state(run_id, "running", versions=versions, device=str(device),
                                device_name=self.executor.device_name(device))
            dropped = store.reset_unfinished(run_id, retry_failed)
            if dropped:
                self._log("info", f"resuming: {dropped} unfinished evaluation(s) will run again", run_id)
        else:
            if self.executor.runs_here:  # before the run is written: a failure here leaves no empty run
                self._prepare_evaluators()
            dataset_meta = {
                "name": data.name, "shape": list(data.shape), "train": int(data.train_y.numel()),
                "test": int(data.test_y.numel()), "classes": data.classes,
            }
            run_id = store.create_run(
                name=plan.name, plan_text=plan.text, plan=plan.normalized(), plan_hash=plan.hash, versions=versions,
                device=str(device), device_name=self.executor.device_name(device), dataset=dataset_meta,
            )
        store.add_candidates(
            run_id,
            ((c.index, c.arch.id, c.arch.params, c.info.summary(), c.info.valid, c.info.reason) for c in self.candidates),
        )

        searching = plan.sampler["kind"] == "optuna"
        if searching:
            self._recall_trials(store, run_id)
        finished = store.finished_keys(run_id)
        self._stage_of = stage_numbers([(e.instance, e.stage) for e in plan.evaluators])
        self._tally = {n: {"running": 0, "done": 0, "skipped": 0} for n, _ in self.evaluators}
        for e in store.evaluations(run_id):
            if e["evaluator"] in self._tally and e["status"] != "running":
                self._tally[e["evaluator"]]["skipped" if e["status"] == SKIPPED else "done"] += 1
        self._planned = plan.sampler["trials"] if searching else len(self.candidates)
        total = (plan.sampler["trials"] if searching else len(self.candidates)) * len(self.evaluators)
        self.on_event(ev.RunStarted(
            run_id, total, len(finished), plan.sampler["trials"] if searching else len(self.candidates), tuple(n for n, _ in self.evaluators), resumed, str(device),
            {n: e.headline_metrics() for n, e in self.evaluators}, sum(t["skipped"] for t in self._tally.values()),
        ))

        self.run_id = run_id
        cancelled = False
        try:
            if resumed and len(finished) < total and self.executor.runs_here:
                self._prepare_evaluators()
            self._stage_progress()
            if searching:
                self._search(run_id, finished)
                self._planned = len(self.candidates)
                self._stage_progress()
            numbers = self._stage_of
            stages = max(numbers.values(), default=0) + 1
            for number in range(stages):
                group = [i for i, _ in self.evaluators if numbers[i] == number]
                chosen = self._start_stage(run_id, number, stages, group)
                for instance in group:  # staged instances on their selection, the others on every candidate
                    finished |= {(c.arch.id, instance) for c in self.candidates
                                 if instance in chosen and c.arch.id not in chosen[instance]}
                self.evaluate(self.candidates, group, finished)
        except Cancelled:
            cancelled = True
            self._log("warning", f"run cancelled; resume with: rcx run --headless {shlex.quote(str(plan.output))}", run_id)
        finally:
            counts = store.counts(run_id)
            if searching and not cancelled:  # a repeated proposal reuses a result: fewer evaluations than trials
                total = len(self.candidates) * len(self.evaluators)
            complete = not cancelled and sum(n for s, n in counts.items() if s != "running") >= total
            store.set_run_state(run_id, "finished" if complete else "interrupted")
            self.on_event(ev.RunFinished(run_id, counts, time.perf_counter() - t0, cancelled))
        return run_id

    # -- search (the optuna sampler) -------------------------------------------------------------
    def _recall_trials(self, store: Store, run_id: int) -> None:
        """A resumed search's candidates: the architectures its recorded trials proposed."""
        assert self.space is not None and self.data is not None
        seen = {c.arch.id for c in self.candidates}
        for record in store.trials(run_id):
            if record["arch"] and record["arch"] not in seen and not record.get("rejected"):
                seen.add(record["arch"])
                arch = self.space.from_id(record["arch"])
                cand = Candidate(len(self.candidates), arch, self.space.describe(arch, self.data.shape))
                self.candidates.append(cand)
                self._by_arch[arch.id] = cand

    def _search(self, run_id: int, finished: set[tuple[str, str]]) -> None:
        """Ask Optuna for ``trials`` valid candidates in batches, evaluate each batch with the
        stage-0 evaluators, tell the results; later stages run on the candidates afterwards.

        Recorded trials are evaluated first (where a kill left them unfinished) and replayed into
        a fresh study; then new trials are asked, each batch recorded in one transaction (with
        its rejected, invalid proposals), evaluated and told: a resumed search proposes exactly
        what an uninterrupted one does.
        """
        from rcx.core.plan import search_objectives
        from rcx.core.search import Search, objective_values

        assert self.store is not None and self.space is not None and self.data is not None
        store, plan, space, shape = self.store, self.plan, self.space, self.data.shape
        objectives = search_objectives(plan, self.registry)
        search = Search(space, objectives, plan.sampler["algorithm"] or "tpe", plan.seed)
        by_id = {c.arch.id: c for c in self.candidates}
        described: dict[str, ArchInfo] = {}

        def why_invalid(arch: Arch) -> str:
            info = by_id[arch.id].info if arch.id in by_id else space.describe(arch, shape)
            if info.valid and arch.id not in by_id:
                described[arch.id] = info  # the candidate's description, kept for when it is accepted
            return "" if info.valid else (info.reason or "invalid on this input")

        def values_of(arch_id: str | None) -> list[float] | None:
            if arch_id is None:
                return None
            evals = {e["evaluator"]: (e["status"], e["metrics"]) for e in store.evaluations_of(run_id, arch_id)}
            return objective_values(objectives, evals, by_id[arch_id].info.summary())

        records = store.trials(run_id)
        instances = [n for n, _ in self.evaluators if self._stage_of.get(n, 0) == 0]
        self.evaluate([by_id[r["arch"]] for r in records if r["arch"] and not r.get("rejected")], instances, finished)
        for record in records:
            search.replay(record, None if record.get("rejected") else values_of(record["arch"]))
        accepted = sum(1 for r in records if not r.get("rejected"))
        rejected = len(records) - accepted
        trials, batch = plan.sampler["trials"], plan.sampler["batch"] or 1
        while accepted < trials:
            self.wait_while_paused()
            if self.cancel.is_set():
                raise Cancelled()
            proposals, batch_records = [], []
            for _ in range(min(batch, trials - accepted)):
                refused, p = search.ask_valid(why_invalid)
                batch_records += [r.record() for r in refused] + [p.record()]
                proposals.append(p)
                rejected += len(refused)
                accepted += 1
            store.record_trials(run_id, batch_records)
            fresh = []
            for p in proposals:
                if p.arch is not None and p.arch.id not in by_id:
                    info = described.pop(p.arch.id, None) or space.describe(p.arch, shape)
                    cand = Candidate(len(self.candidates), p.arch, info)
                    self.candidates.append(cand)
                    by_id[p.arch.id] = self._by_arch[p.arch.id] = cand
                    fresh.append(cand)
            store.add_candidates(run_id, ((c.index, c.arch.id, c.arch.params, c.info.summary(), c.info.valid,
                                           c.info.reason) for c in fresh))
            self.evaluate(fresh, instances, finished)
            for p in proposals:
                search.tell(p.number, values_of(p.arch.id if p.arch else None))
        if rejected:
            level = "warning" if rejected > accepted else "info"
            self._log(level, f"search: {rejected:,} of {rejected + accepted:,} proposals were not valid "
                             f"{space.name} architectures on {shape[0]}x{shape[1]}x{shape[2]} input; they were "
                             "rejected and asked again" + (" (most proposals: narrow the space's options to the "
                                                           "input)" if rejected > accepted else ""), run_id)

    def _start_stage(self, run_id: int, number: int, stages: int, instances: list[str]) -> dict[str, set[str]]:
        """Select (or, on resume, recall) the candidates of the staged ``instances``; emits
        :class:`~rcx.core.events.StageStarted`. Returns the selected arch ids per staged instance."""
        assert self.store is not None
        specs = {e.instance: e for e in self.plan.evaluators}
        chosen: dict[str, set[str]] = {}
        skipped = newly = 0
        for instance in instances:
            stage = specs[instance].stage
            if stage is None:
                continue
            recorded = self.store.selection(run_id, instance)
            if recorded is None:
                ranked: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {c.arch.id: {} for c in self.candidates}
                for e in self.store.evaluations(run_id):
                    if e["evaluator"] in stage.instances and e["arch"] in ranked:
                        ranked[e["arch"]][e["evaluator"]] = (e["status"], e["metrics"])
                sel = select(stage, ranked, {c.arch.id: c.info.summary() for c in self.candidates})
                self.store.record_selection(run_id, instance, {"by": stage.by, "rule": stage.describe(),
                                                               "selected": sel.selected}, sel.skipped)
                recorded = {"selected": sel.selected}
                newly += len(sel.skipped)
                self._tally[instance]["skipped"] += len(sel.skipped)
                self.store.log(run_id, "info", f"stage {number + 1}/{stages}: {instance} on the {stage.describe()}: "
                                               f"selected {', '.join(sel.selected) or 'none'}")
            chosen[instance] = set(recorded["selected"])
            skipped += len(self.candidates) - len(chosen[instance])
        rules = [f"{i} on the {specs[i].stage.describe()}" if i in chosen else f"{i} on every candidate" for i in instances]
        selected = max((len(c) for c in chosen.values()), default=len(self.candidates))
        if stages > 1:
            self._stage_progress()
            self.on_event(ev.StageStarted(number, stages, tuple(instances), "; ".join(rules), selected, skipped, newly))
        return chosen

    def _stage_progress(self) -> None:
        """Emit :class:`~rcx.core.events.StageProgress`: every stage's waiting / running / done /
        skipped evaluations, from the runner's tally."""
        stages: dict[int, list[str]] = {}
        for instance, number in self._stage_of.items():
            stages.setdefault(number, []).append(instance)
        out = []
        for number in sorted(stages):
            group = stages[number]
            t = {k: sum(self._tally.get(i, {}).get(k, 0) for i in group) for k in ("running", "done", "skipped")}
            waiting = max(0, self._planned * len(group) - t["running"] - t["done"] - t["skipped"])
            out.append(ev.StageCount(number, tuple(group), waiting, t["running"], t["done"], t["skipped"]))
        self.on_event(ev.StageProgress(tuple(out)))

    def evaluate(self, candidates: list[Candidate], instances: list[str], finished: set[tuple[str, str]]) -> None:
        """Every evaluator instance of ``instances`` on each of ``candidates`` that ``finished``
        does not hold yet (candidate-major order): invalid candidates are recorded here, the rest
        go to the executor as :class:`Task` s in one batch. Raises :class:`Cancelled` when the run
        was cancelled. Can be called more than once per run (stages, search batches)."""
        assert self.store is not None
        plan, tasks = self.plan, []
        for cand in candidates:
            for instance in instances:
                if (cand.arch.id, instance) in finished:
                    continue
                task = Task(cand.index, cand.arch.id, instance, derive_seed(plan.seed, instance, cand.arch.id), plan.hash)
                if cand.info.valid:
                    tasks.append(task)
                else:  # nothing to run: recorded here, by every executor alike
                    self.store.finish_evaluation(self.run_id, task.arch, instance, "invalid", error=cand.info.reason,
                                                 seed=task.seed)
                    self._count(instance, "done")
                    self.on_event(ev.EvalFinished(task.arch, instance, "invalid", error=cand.info.reason))
                finished.add(task.key)
        if tasks:
            self.executor.execute(self, tasks)

    # -- what executors call (the driver's side: the only writer of the results file) ---------
    def wait_while_paused(self) -> None:
        """Block between evaluations while ``pause`` is set; ``cancel`` ends the wait at once."""
        while self.pause.is_set() and not self.cancel.is_set():
            self.cancel.wait(0.05)

    def evaluator(self, instance: str) -> Evaluator:
        """This process's prepared evaluator instance (in-process execution)."""
        return self._instances[instance]

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
        assert self.store is not None
        self.store.start_evaluation(self.run_id, task.arch, task.evaluator, task.seed, device or str(self.device))
        self._count(task.evaluator, "running")
        self.on_event(ev.EvalStarted(task.arch, task.evaluator, worker))

    def record(self, task: Task, outcome: Outcome, worker: str = "") -> None:
        """Store ``outcome`` (a cancelled one drops the running row) and report it."""
        assert self.store is not None
        run_id, arch, instance = self.run_id, task.arch, task.evaluator
        self._count(instance, "running", -1)
        if outcome.cancelled:
            self.store.cancel_evaluation(run_id, arch, instance)
            self._stage_progress()
            return
        status, metrics, trials, extra, error = outcome.status, outcome.metrics, outcome.trials, outcome.extra, outcome.error
        if outcome.returned:  # declarations and NaN (rcx.plugin_checks): a warning, or an error in strict mode
            self.checker.check(self._instances[instance], outcome.returned, metrics, instance, outcome.nonfinite)
        try:  # evaluate_one made the values plain already; the store checks them once more
            self.store.finish_evaluation(run_id, arch, instance, status, metrics=metrics, trials=trials, extra=extra,
                                         error=error, seconds=outcome.seconds, cpu_s=outcome.cpu_s)
        except UnstorableValue as exc:
            status, metrics, error = "failed", {}, f"the result cannot be stored: {exc}"
            self.store.finish_evaluation(run_id, arch, instance, status, error=error, seconds=outcome.seconds,
                                         cpu_s=outcome.cpu_s)
        if status == "failed":
            self._log("error", f"{arch} / {instance}: {error}", run_id)
        self._count(instance, "done")
        self.on_event(ev.EvalFinished(arch, instance, status, metrics, outcome.seconds, error, worker))
        self._stage_progress()

    def _count(self, instance: str, key: str, by: int = 1) -> None:
        """Move the stage tally of ``instance`` (``running``, ``done``); a start reports it."""
        tally = self._tally.setdefault(instance, {"running": 0, "done": 0, "skipped": 0})
        tally[key] = max(0, tally[key] + by)
        if key == "running" and by > 0:
            self._stage_progress()

    def curve_point(self, task: Task, step: int, epoch: float, metrics: dict[str, Any], worker: str = "") -> None:
        """Store one learning-curve point of ``task`` and report it."""
        assert self.store is not None
        metrics = plain_json(metrics, "curve point")
        self.store.add_curve_point(self.run_id, task.arch, task.evaluator, step, epoch, metrics)
        self.on_event(ev.CurvePoint(task.arch, task.evaluator, int(step), float(epoch), metrics, worker))

    def progress(self, task: Task, fraction: float, message: str, worker: str = "") -> None:
        self.on_event(ev.EvalProgress(task.arch, task.evaluator, fraction, message, worker))

    def emit(self, event: ev.Event) -> None:
        """Report an executor's own event (e.g. :class:`~rcx.core.events.Workers`)."""
        self.on_event(event)

    def log(self, level: str, message: str) -> None:
        """A line for the run's log (stored with the run) and the reporters."""
        self._log(level, message, self.run_id or None)

    def _log(self, level: str, message: str, run_id: int | None = None) -> None:
        if run_id and self.store is not None:
            self.store.log(run_id, level, message)
        self.on_event(ev.Log(level, message))
