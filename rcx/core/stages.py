"""Stages: evaluators that run only on the best candidates of earlier ones.

An evaluator table with ``top = 20`` (or ``top_fraction = 0.05``) and ``by =
"ridge_rfm.val_acc"`` runs on the 20 candidates that the earlier evaluator instance
``ridge_rfm`` scored best by its declared metric ``val_acc`` (its declared direction says what
best is). ``by`` may also be a rank average of several columns (``by = ["synflow.score",
"jacov.score", "flops"]``: earlier instances' metrics and the architecture's baselines
``params``, ``flops``, ``features``; see :mod:`rcx.core.scores`). Evaluators without ``top`` form
stage 0 and run on every candidate; an evaluator ranked by stage-k instances (the latest of
them) is in stage k + 1. Stages run in order; within a stage, candidates run in the sampler's
order. After an Optuna search (``kind = "optuna"``), stage 0 runs on every proposal during the
search and the later stages on the search's candidates once it has proposed them all.

Selection is deterministic: only candidates whose evaluations by every instance ``by`` names
are ``done`` with finite values compete (failed, screened, skipped, invalid or missing ones are
never promoted), ranked best first with ties broken by architecture id. ``top_fraction`` takes
``ceil(fraction * entered)`` (at least one), where ``entered`` counts the candidates that every
ranking instance evaluated (skipped ones did not enter). Candidates not selected get status
``skipped`` with the reason; the selection is recorded in the results file when the stage
starts, so a resumed run keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rcx.api.options import Option
from rcx.core.scores import rank_average, score_name, usable

STAGE_OPTIONS: list[Option] = [
    Option("top", int, None, "run only on the best N candidates of an earlier evaluator", min=1),
    Option("top_fraction", float, None, "run only on this fraction of them", min=0, max=1, gt_min=True),
    Option("by", list, None, "instance.metric of an earlier evaluator table, a baseline (params, flops, features), or "
           "a list of them ranked by their rank average", item_type=str),
]
"""The keys of an evaluator table that say its stage (not evaluator options): the one declaration
the plan validator, the TUI's Plan screen, the docs and ``rcx schema`` read. ``by`` is one column
or a list of them (the validator reads it itself; see :data:`ONE_OR_LIST`)."""

STAGE_KEYS = tuple(o.name for o in STAGE_OPTIONS)
"""The names of :data:`STAGE_OPTIONS`."""

ONE_OR_LIST = ("by",)
"""Stage keys declared as lists that also take a single item alone (``by = "ridge_rfm.val_acc"``)."""

SKIPPED = "skipped"
"""The status of an evaluation that its stage did not select."""


@dataclass(frozen=True)
class Stage:
    """How one evaluator instance selects its candidates.

    ``by`` is ``"instance.metric"`` of an earlier evaluator table (or an architecture baseline
    such as ``"flops"``) with its direction ``higher_is_better``; exactly one of ``top`` (a
    count) and ``top_fraction`` (in (0, 1]) is set. A rank average sets ``columns`` (two or
    more) with their ``directions``; ``by`` is then its name ``rankavg(a,b,c)`` and lower is
    better.
    """

    by: str
    higher_is_better: bool
    top: int | None = None
    top_fraction: float | None = None
    columns: tuple[str, ...] = ()
    directions: tuple[bool, ...] = ()

    @classmethod
    def rank_average(cls, columns: Sequence[str], directions: Sequence[bool], top: int | None = None,
                     top_fraction: float | None = None) -> Stage:
        """A stage ranked by the rank average of ``columns`` (one declared direction each)."""
        if len(columns) == 1:
            return cls(columns[0], directions[0], top, top_fraction)
        return cls(score_name(columns), False, top, top_fraction, tuple(columns), tuple(directions))

    @property
    def ranked_by(self) -> tuple[tuple[str, bool], ...]:
        """``(column, higher_is_better)`` of every column the stage ranks by."""
        return tuple(zip(self.columns, self.directions)) if self.columns else ((self.by, self.higher_is_better),)

    @property
    def instances(self) -> tuple[str, ...]:
        """The evaluator instances whose metrics rank this stage (in ``by`` order)."""
        return tuple(dict.fromkeys(c.partition(".")[0] for c, _ in self.ranked_by if "." in c))

    @property
    def instance(self) -> str:
        """The first ranking instance (empty when only baselines rank)."""
        return next(iter(self.instances), "")

    @property
    def metric(self) -> str:
        return self.by.partition(".")[2]

    def describe(self) -> str:
        """``top 20 by ridge_rfm.val_acc`` / ``top 5 % by naswot.score``."""
        size = f"top {self.top:,}" if self.top is not None else f"top {100 * (self.top_fraction or 0):g} %"
        return f"{size} by {self.by}"

    def plan_keys(self) -> dict[str, Any]:
        """The keys as the plan writes them (for the plan's identity)."""
        keys: dict[str, Any] = {"by": list(self.columns) if self.columns else self.by}
        if self.top is not None:
            keys["top"] = self.top
        else:
            keys["top_fraction"] = self.top_fraction
        return keys


@dataclass(frozen=True)
class Selection:
    """The outcome of a stage's selection: ``selected`` ids best first, ``skipped`` reasons."""

    selected: list[str]
    skipped: dict[str, str]


def stage_numbers(stages: Sequence[tuple[str, Stage | None]]) -> dict[str, int]:
    """Each instance's stage: 0 without a :class:`Stage`, else its latest ranking instance's + 1
    (1 when only baselines rank it).

    ``stages`` lists the plan's evaluator instances in table order; a stage ranks by earlier
    instances (the plan check guarantees it).
    """
    out: dict[str, int] = {}
    for instance, stage in stages:
        out[instance] = 0 if stage is None else max((out[i] for i in stage.instances), default=0) + 1
    return out


Evaluations = Mapping[str, tuple[str, Mapping[str, Any]]]
"""One candidate's evaluations: instance -> ``(status, metrics)``."""


def select(stage: Stage, evaluations: Mapping[str, Any],
           info: Mapping[str, Mapping[str, Any]] | None = None) -> Selection:
    """Choose the candidates of ``stage``.

    ``evaluations`` maps the arch id of every candidate to its evaluations by the ranking
    instances (instance -> ``(status, metrics)``; with one ranking instance, its ``(status,
    metrics)`` alone will do); status ``skipped`` means it never entered. ``info`` maps arch ids
    to the architecture summary (``params``, ``flops``...) for baseline columns. Returns the
    selected ids, best first (ties by id), and a reason for every other candidate.
    """
    info = info or {}
    skipped: dict[str, str] = {}
    eligible: list[tuple[str, list[Any]]] = []
    entered = 0
    for arch, evals in evaluations.items():
        if isinstance(evals, tuple):
            evals = {stage.instance: evals}
        statuses = {i: evals.get(i, ("missing", {}))[0] for i in stage.instances}
        never = [i for i, s in statuses.items() if s == SKIPPED]
        if never:
            skipped[arch] = f"not selected for {never[0]}, so not ranked by {stage.by}"
            continue
        entered += 1
        ended = [(i, s) for i, s in statuses.items() if s != "done"]
        if ended:
            skipped[arch] = f"{ended[0][0]} ended {ended[0][1]}, so it has no {stage.by} to rank"
            continue
        values = []
        for column, _ in stage.ranked_by:
            inst, dot, metric = column.partition(".")
            values.append(evals[inst][1].get(metric) if dot else info.get(arch, {}).get(column))
        bad = next(((c, v) for (c, _), v in zip(stage.ranked_by, values) if not usable(v)), None)
        if bad:
            skipped[arch] = f"{bad[0]} is {bad[1]!r}, not a number to rank"
            continue
        eligible.append((arch, values))
    if stage.columns:
        averages = rank_average([[v[k] for _, v in eligible] for k in range(len(stage.columns))], stage.directions)
        scored = [(float(a or 0.0), arch) for a, (arch, _) in zip(averages, eligible)]
    else:
        scored = [(float(v[0]), arch) for arch, v in eligible]
    scored.sort(key=lambda va: (-va[0] if stage.higher_is_better else va[0], va[1]))
    if stage.top is not None:
        n = stage.top
    else:
        n = max(1, math.ceil((stage.top_fraction or 0.0) * entered - 1e-9))
    selected = [a for _, a in scored[:n]]
    for rank, (value, arch) in enumerate(scored[n:], start=n + 1):
        skipped[arch] = (f"rank {rank:,} of {len(scored):,} by {stage.by} ({value:.6g}); "
                         f"only the {stage.describe()} go on")
    return Selection(selected, skipped)
