"""Recording a run: the driver's side of every evaluation, and the only writer of the results file.

Executors report through the :class:`~rcx.core.runner.Runner`, which hands each report to its
:class:`Recorder`: a task started, an outcome (stored, checked against the evaluator's
declarations, reported), a learning-curve point, progress, a log line. The recorder also keeps
the per-stage tally (waiting / running / done / skipped evaluations) behind
:class:`~rcx.core.events.StageProgress`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rcx.api.evaluator import Evaluator
from rcx.core import events as ev
from rcx.core.stages import SKIPPED
from rcx.core.store import Store, UnstorableValue, plain_json
from rcx.plugin_checks import ResultChecker

if TYPE_CHECKING:
    from rcx.core.runner import Outcome, Task

TALLY_KEYS = ("running", "done", "skipped")


class Recorder:
    """Writes a run's evaluations, curve points and log lines to its store and reports them.

    ``on_event`` gets every :mod:`rcx.core.events` event; ``checker`` checks each returned
    result against its evaluator's declarations (warning, or an error in strict mode).
    :meth:`begin` binds the store and run id once the run exists; before that, log lines only
    go to ``on_event``.
    """

    def __init__(self, on_event: Callable[[ev.Event], None], checker: ResultChecker) -> None:
        self.on_event = on_event
        self.checker = checker
        self.store: Store | None = None
        self.run_id = 0
        self.device = ""  # where tasks run here (stored with a started evaluation unless told otherwise)
        self.evaluators: dict[str, Evaluator] = {}  # the driver's instances, for the checker
        self.stage_of: dict[str, int] = {}  # instance -> its stage
        self.tally: dict[str, dict[str, int]] = {}  # instance -> running / done / skipped
        self.planned = 0  # candidates the run will have (a search's trials until it has proposed them)

    def begin(self, store: Store, run_id: int, stage_of: dict[str, int], planned: int) -> None:
        """Bind the run: its store and id, each instance's stage, the candidates it will have;
        the tally starts from what ``store`` already holds (a resumed run)."""
        self.store, self.run_id, self.stage_of, self.planned = store, run_id, stage_of, planned
        self.tally = {n: dict.fromkeys(TALLY_KEYS, 0) for n in stage_of}
        for e in store.evaluations(run_id):
            if e["evaluator"] in self.tally and e["status"] != "running":
                self.tally[e["evaluator"]]["skipped" if e["status"] == SKIPPED else "done"] += 1

    def skipped(self) -> int:
        """Evaluations the stages skipped so far."""
        return sum(t["skipped"] for t in self.tally.values())

    # -- evaluations ----------------------------------------------------------------------------
    def task_started(self, task: Task, worker: str = "", device: str | None = None) -> None:
        """Mark ``task`` running (on ``worker``'s ``device``); a restarted task's old curve goes."""
        assert self.store is not None
        self.store.start_evaluation(self.run_id, task.arch, task.evaluator, task.seed, device or self.device)
        self.count(task.evaluator, "running")
        self.on_event(ev.EvalStarted(task.arch, task.evaluator, worker))

    def invalid(self, task: Task, reason: str) -> None:
        """Record ``task``'s candidate as invalid (nothing to run: the same for every executor)."""
        assert self.store is not None
        self.store.finish_evaluation(self.run_id, task.arch, task.evaluator, "invalid", error=reason, seed=task.seed)
        self.count(task.evaluator, "done")
        self.on_event(ev.EvalFinished(task.arch, task.evaluator, "invalid", error=reason))

    def record(self, task: Task, outcome: Outcome, worker: str = "") -> None:
        """Store ``outcome`` (a cancelled one drops the running row) and report it."""
        assert self.store is not None
        run_id, arch, instance = self.run_id, task.arch, task.evaluator
        self.count(instance, "running", -1)
        if outcome.cancelled:
            self.store.cancel_evaluation(run_id, arch, instance)
            self.stage_progress()
            return
        status, metrics, trials, extra = outcome.status, outcome.metrics, outcome.trials, outcome.extra
        error = outcome.error
        if outcome.returned:  # declarations and NaN (rcx.plugin_checks): a warning, or an error in strict mode
            self.checker.check(self.evaluators[instance], outcome.returned, metrics, instance, outcome.nonfinite)
        try:  # evaluate_one made the values plain already; the store checks them once more
            self.store.finish_evaluation(run_id, arch, instance, status, metrics=metrics, trials=trials, extra=extra,
                                         error=error, seconds=outcome.seconds, cpu_s=outcome.cpu_s)
        except UnstorableValue as exc:
            status, metrics, error = "failed", {}, f"the result cannot be stored: {exc}"
            self.store.finish_evaluation(run_id, arch, instance, status, error=error, seconds=outcome.seconds,
                                         cpu_s=outcome.cpu_s)
        if status == "failed":
            self.log("error", f"{arch} / {instance}: {error}", run_id)
        self.count(instance, "done")
        self.on_event(ev.EvalFinished(arch, instance, status, metrics, outcome.seconds, error, worker))
        self.stage_progress()

    def curve_point(self, task: Task, step: int, epoch: float, metrics: dict[str, Any], worker: str = "") -> None:
        """Store one learning-curve point of ``task`` and report it."""
        assert self.store is not None
        metrics = plain_json(metrics, "curve point")
        self.store.add_curve_point(self.run_id, task.arch, task.evaluator, step, epoch, metrics)
        self.on_event(ev.CurvePoint(task.arch, task.evaluator, int(step), float(epoch), metrics, worker))

    def progress(self, task: Task, fraction: float, message: str, worker: str = "") -> None:
        """Report progress inside ``task``'s evaluation (``fraction`` in [0, 1])."""
        self.on_event(ev.EvalProgress(task.arch, task.evaluator, fraction, message, worker))

    def log(self, level: str, message: str, run_id: int | None = None) -> None:
        """A line for the reporters, and for run ``run_id``'s stored log when given."""
        if run_id and self.store is not None:
            self.store.log(run_id, level, message)
        self.on_event(ev.Log(level, message))

    # -- the stage tally ----------------------------------------------------------------------
    def count(self, instance: str, key: str, by: int = 1) -> None:
        """Move the stage tally of ``instance`` (``running``, ``done``, ``skipped``); a start reports it."""
        tally = self.tally.setdefault(instance, dict.fromkeys(TALLY_KEYS, 0))
        tally[key] = max(0, tally[key] + by)
        if key == "running" and by > 0:
            self.stage_progress()

    def stage_progress(self) -> None:
        """Emit :class:`~rcx.core.events.StageProgress`: every stage's waiting / running / done /
        skipped evaluations, from the tally."""
        stages: dict[int, list[str]] = {}
        for instance, number in self.stage_of.items():
            stages.setdefault(number, []).append(instance)
        out = []
        for number in sorted(stages):
            group = stages[number]
            t = {k: sum(self.tally.get(i, {}).get(k, 0) for i in group) for k in TALLY_KEYS}
            waiting = max(0, self.planned * len(group) - t["running"] - t["done"] - t["skipped"])
            out.append(ev.StageCount(number, tuple(group), waiting, t["running"], t["done"], t["skipped"]))
        self.on_event(ev.StageProgress(tuple(out)))
