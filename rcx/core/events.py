"""Events the runner emits; the CLI prints them and the TUI shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    """``total`` evaluations in the run, ``done`` of them already finished (resume), ``skipped``
    of those not selected by their stage (counted in ``done``).
    ``headline`` maps each evaluator instance to the metrics worth showing per evaluation."""

    run_id: int
    total: int
    done: int
    candidates: int
    evaluators: tuple[str, ...]
    resumed: bool
    device: str
    headline: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skipped: int = 0


@dataclass(frozen=True)
class EvalStarted:
    """An evaluation began (``worker``: the executor's worker running it; empty in-process)."""

    arch: str
    evaluator: str
    worker: str = ""


@dataclass(frozen=True)
class EvalProgress:
    """Progress inside one evaluation; ``fraction`` in [0, 1]."""

    arch: str
    evaluator: str
    fraction: float
    message: str
    worker: str = ""


@dataclass(frozen=True)
class CurvePoint:
    """One learning-curve point of a training evaluation (already in the store): ``step``
    optimiser steps and ``epoch`` epochs done, ``metrics`` such as ``train_loss``, ``val_acc``,
    ``lr``. Reporters may ignore it; the TUI charts it."""

    arch: str
    evaluator: str
    step: int
    epoch: float
    metrics: dict[str, Any] = field(default_factory=dict)
    worker: str = ""


NOTHING_COMPUTED = ("invalid", "skipped")
"""Final statuses of evaluations that computed nothing (the architecture does not fit the
input; a stage did not select the candidate): they finish at once, so a rate counts only the
others (a run of invalid candidates read thousands per second)."""


@dataclass(frozen=True)
class EvalFinished:
    """One evaluation reached a final status (done, screened, invalid, failed, ...)."""

    arch: str
    evaluator: str
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    worker: str = ""


@dataclass(frozen=True)
class WorkerInfo:
    """One worker of a distributed executor: ``name`` (e.g. ``w1``), the ``node`` it runs on
    (host or IP), its ``device`` (e.g. ``cuda:0 (0.25 GPU)``), ``running`` (``arch / evaluator``
    of its current task, empty when idle), ``done`` (evaluations it finished) and ``state``
    (``starting``, ``ready``, ``lost``, ``failed``: never became ready)."""

    name: str
    node: str = ""
    device: str = ""
    running: str = ""
    done: int = 0
    state: str = "ready"


@dataclass(frozen=True)
class Workers:
    """The executor's workers and what each runs now (sent whenever that changes; never sent
    by the in-process executor)."""

    workers: tuple[WorkerInfo, ...]


@dataclass(frozen=True)
class StageStarted:
    """Stage ``stage`` (0-based, of ``stages``) begins: its evaluator ``instances`` run on
    ``selected`` candidates (``rule`` says how they were chosen); ``skipped`` were not selected,
    ``newly_skipped`` of them just now (they count as finished evaluations from here on)."""

    stage: int
    stages: int
    instances: tuple[str, ...]
    rule: str
    selected: int
    skipped: int = 0
    newly_skipped: int = 0


@dataclass(frozen=True)
class StageCount:
    """One stage's evaluations (candidate x instance): ``waiting`` (not started; a stage
    that has not selected yet counts every candidate it may get), ``running``, ``done`` (any
    final status but skipped: done, screened, invalid, failed...) and ``skipped`` (not selected).
    ``instances`` are the stage's evaluator instances."""

    stage: int
    instances: tuple[str, ...]
    waiting: int
    running: int
    done: int
    skipped: int


@dataclass(frozen=True)
class StageProgress:
    """Every stage's counts (stage 0 first), sent whenever one changes; a plan without stages
    has one."""

    stages: tuple[StageCount, ...]


def stage_line(stages: tuple[StageCount, ...]) -> str:
    """``stage 1 (naswot): 40 done | stage 2 (ridge): 3 waiting, 1 running, 6 done, 30 skipped``:
    every stage's counts, zero counts left out (for the Run screen and headless progress)."""
    parts = []
    for s in stages:
        counts = ", ".join(f"{n:,} {k}" for k, n in (("waiting", s.waiting), ("running", s.running), ("done", s.done),
                                                        ("skipped", s.skipped)) if n)
        parts.append(f"stage {s.stage + 1} ({', '.join(s.instances)}): {counts or 'nothing yet'}")
    return " | ".join(parts)


@dataclass(frozen=True)
class Log:
    level: str  # "info" | "warning" | "error"
    message: str


@dataclass(frozen=True)
class RunFinished:
    """``counts`` of final statuses over the whole run; ``cancelled`` when stopped early."""

    run_id: int
    counts: dict[str, int]
    seconds: float
    cancelled: bool


Event = (RunStarted | StageStarted | EvalStarted | EvalProgress | CurvePoint | EvalFinished | Log | RunFinished
         | Workers | StageProgress)
