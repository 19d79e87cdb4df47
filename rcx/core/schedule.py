"""Scheduling a run's evaluations: stage after stage, and a search's batches of proposals.

A :class:`Schedule` decides which evaluations a run makes and in what order, and hands them to
the executor as :class:`~rcx.core.runner.Task` s: every stage's evaluators on its candidates
(a staged evaluator only on the candidates its rule selects), and for the ``optuna`` sampler
the search that proposes the candidates batch by batch. What comes back is recorded by the
run's :class:`~rcx.core.recorder.Recorder`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.evaluator import Cancelled
from rcx.api.seeding import derive_seed
from rcx.core import events as ev
from rcx.core.plan import Plan
from rcx.core.recorder import Recorder
from rcx.core.setup import Candidate
from rcx.core.stages import select
from rcx.core.store import Store
from rcx.plugins import Registry

Finished = set[tuple[str, str]]
"""``(arch id, evaluator instance)`` pairs that need no evaluation (done before, or skipped)."""


class Schedule:
    """The evaluations of run ``run_id`` of ``plan`` into ``store``.

    ``candidates`` (and ``by_arch``, the same candidates by architecture id) are the run's
    sampled candidates; a search appends the ones it proposes to both. ``execute(tasks)`` runs
    a batch of tasks (through the executor); ``wait_while_paused`` blocks while the run is
    paused; ``cancel`` stops the search between batches.
    """

    def __init__(self, plan: Plan, registry: Registry, store: Store, run_id: int, space: SearchSpace,
                 shape: tuple[int, int, int], candidates: list[Candidate], by_arch: dict[str, Candidate],
                 recorder: Recorder, execute: Callable[[list[Any]], None], cancel: threading.Event,
                 wait_while_paused: Callable[[], None]) -> None:
        self.plan, self.registry, self.store, self.run_id = plan, registry, store, run_id
        self.space, self.shape = space, shape
        self.candidates, self.by_arch = candidates, by_arch
        self.recorder, self.execute, self.cancel, self.wait_while_paused = recorder, execute, cancel, wait_while_paused
        self.instances = [e.instance for e in plan.evaluators]

    @property
    def searching(self) -> bool:
        return self.plan.sampler["kind"] == "optuna"

    def run(self, finished: Finished) -> None:
        """Every evaluation not in ``finished``: the search first (when the plan searches), then
        stage after stage. Raises :class:`~rcx.api.evaluator.Cancelled` when the run is cancelled."""
        recorder = self.recorder
        recorder.stage_progress()
        if self.searching:
            self.search(finished)
            recorder.planned = len(self.candidates)
            recorder.stage_progress()
        numbers = recorder.stage_of
        stages = max(numbers.values(), default=0) + 1
        for number in range(stages):
            group = [i for i in self.instances if numbers[i] == number]
            chosen = self.start_stage(number, stages, group)
            for instance in group:  # staged instances on their selection, the others on every candidate
                finished |= {(c.arch.id, instance) for c in self.candidates
                             if instance in chosen and c.arch.id not in chosen[instance]}
            self.evaluate(self.candidates, group, finished)

    # -- search (the optuna sampler) -------------------------------------------------------------
    def recall_trials(self) -> None:
        """A resumed search's candidates: the architectures its recorded trials proposed."""
        seen = {c.arch.id for c in self.candidates}
        for record in self.store.trials(self.run_id):
            if record["arch"] and record["arch"] not in seen and not record.get("rejected"):
                seen.add(record["arch"])
                arch = self.space.from_id(record["arch"])
                cand = Candidate(len(self.candidates), arch, self.space.describe(arch, self.shape))
                self.candidates.append(cand)
                self.by_arch[arch.id] = cand

    def search(self, finished: Finished) -> None:
        """Ask Optuna for ``trials`` valid candidates in batches, evaluate each batch with the
        stage-0 evaluators, tell the results; later stages run on the candidates afterwards.

        Recorded trials are evaluated first (where a kill left them unfinished) and replayed into
        a fresh study; then new trials are asked, each batch recorded in one transaction (with
        its rejected, invalid proposals), evaluated and told: a resumed search proposes exactly
        what an uninterrupted one does.
        """
        from rcx.core.plan import search_objectives
        from rcx.core.search import Search, objective_values

        store, plan, space, shape, run_id = self.store, self.plan, self.space, self.shape, self.run_id
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
        instances = [n for n in self.instances if self.recorder.stage_of.get(n, 0) == 0]
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
                    by_id[p.arch.id] = self.by_arch[p.arch.id] = cand
                    fresh.append(cand)
            store.add_candidates(run_id, ((c.index, c.arch.id, c.arch.params, c.info.summary(), c.info.valid,
                                           c.info.reason) for c in fresh))
            self.evaluate(fresh, instances, finished)
            for p in proposals:
                search.tell(p.number, values_of(p.arch.id if p.arch else None))
        if rejected:
            most = rejected > accepted
            self.recorder.log("warning" if most else "info",
                              f"search: {rejected:,} of {rejected + accepted:,} proposals were not valid {space.name} "
                              f"architectures on {shape[0]}x{shape[1]}x{shape[2]} input; they were rejected and asked "
                              "again" + (" (most proposals: narrow the space's options to the input)" if most else ""),
                              run_id)

    # -- stages ---------------------------------------------------------------------------------
    def start_stage(self, number: int, stages: int, instances: list[str]) -> dict[str, set[str]]:
        """Select (or, on resume, recall) the candidates of the staged ``instances``; emits
        :class:`~rcx.core.events.StageStarted`. Returns the selected arch ids per staged instance."""
        store, run_id, recorder = self.store, self.run_id, self.recorder
        specs = {e.instance: e for e in self.plan.evaluators}
        chosen: dict[str, set[str]] = {}
        skipped = newly = 0
        for instance in instances:
            stage = specs[instance].stage
            if stage is None:
                continue
            recorded = store.selection(run_id, instance)
            if recorded is None:
                ranked: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {c.arch.id: {} for c in self.candidates}
                for e in store.evaluations(run_id):
                    if e["evaluator"] in stage.instances and e["arch"] in ranked:
                        ranked[e["arch"]][e["evaluator"]] = (e["status"], e["metrics"])
                sel = select(stage, ranked, {c.arch.id: c.info.summary() for c in self.candidates})
                store.record_selection(run_id, instance, {"by": stage.by, "rule": stage.describe(),
                                                          "selected": sel.selected}, sel.skipped)
                recorded = {"selected": sel.selected}
                newly += len(sel.skipped)
                recorder.count(instance, "skipped", len(sel.skipped))
                store.log(run_id, "info", f"stage {number + 1}/{stages}: {instance} on the {stage.describe()}: "
                                          f"selected {', '.join(sel.selected) or 'none'}")
            chosen[instance] = set(recorded["selected"])
            skipped += len(self.candidates) - len(chosen[instance])
        rules = []
        for i in instances:
            rule = specs[i].stage
            rules.append(f"{i} on the {rule.describe()}" if i in chosen and rule is not None
                         else f"{i} on every candidate")
        selected = max((len(c) for c in chosen.values()), default=len(self.candidates))
        if stages > 1:
            recorder.stage_progress()
            recorder.on_event(ev.StageStarted(number, stages, tuple(instances), "; ".join(rules), selected, skipped,
                                              newly))
        return chosen

    def evaluate(self, candidates: list[Candidate], instances: list[str], finished: Finished) -> None:
        """Every evaluator instance of ``instances`` on each of ``candidates`` that ``finished``
        does not hold yet (candidate-major order): invalid candidates are recorded here, the rest
        go to the executor as tasks in one batch. Raises :class:`~rcx.api.evaluator.Cancelled`
        when the run was cancelled. Called once per stage and once per search batch."""
        from rcx.core.runner import Task

        plan, tasks = self.plan, []
        for cand in candidates:
            for instance in instances:
                if (cand.arch.id, instance) in finished:
                    continue
                seed = derive_seed(plan.seed, instance, cand.arch.id)
                task = Task(cand.index, cand.arch.id, instance, seed, plan.hash)
                if cand.info.valid:
                    tasks.append(task)
                else:  # nothing to run: recorded here, by every executor alike
                    self.recorder.invalid(task, cand.info.reason)
                finished.add(task.key)
        if tasks:
            self.execute(tasks)
