"""Stages: evaluators that run only on the best candidates of earlier ones.

An evaluator table with ``top = 20`` (or ``top_fraction = 0.05``) and ``by =
"ridge_rfm.val_acc"`` runs on the 20 candidates that the earlier evaluator instance
``ridge_rfm`` scored best by its declared metric ``val_acc`` (its declared direction says what
best is). Evaluators without ``top`` form stage 0 and run on every candidate; an evaluator ranked
by a stage-k instance is in stage k + 1. Stages run in order; within a stage, candidates run in
the sampler's order.

Selection is deterministic: only evaluations of status ``done`` with a finite value compete
(failed, screened, skipped or missing ones are never promoted), ranked best first with ties
broken by architecture id. ``top_fraction`` takes ``ceil(fraction * entered)`` (at least one),
where ``entered`` counts the candidates the ranking instance evaluated (skipped ones did not
enter). Candidates not selected get status ``skipped`` with the reason; the selection is
recorded in the results file when the stage starts, so a resumed run keeps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

STAGE_KEYS = ("top", "top_fraction", "by")
"""Keys of an evaluator table that say its stage; not evaluator options."""

SKIPPED = "skipped"
"""The status of an evaluation that its stage did not select."""


@dataclass(frozen=True)
class Stage:
    """How one evaluator instance selects its candidates.

    ``by`` is ``"instance.metric"`` of an earlier evaluator table; exactly one of ``top`` (a
    count) and ``top_fraction`` (in (0, 1]) is set.
    """

    by: str
    higher_is_better: bool
    top: int | None = None
    top_fraction: float | None = None

    @property
    def instance(self) -> str:
        return self.by.partition(".")[0]

    @property
    def metric(self) -> str:
        return self.by.partition(".")[2]

    def describe(self) -> str:
        """``top 20 by ridge_rfm.val_acc`` / ``top 5 % by naswot.score``."""
        size = f"top {self.top:,}" if self.top is not None else f"top {100 * (self.top_fraction or 0):g} %"
        return f"{size} by {self.by}"

    def plan_keys(self) -> dict[str, Any]:
        """The keys as the plan writes them (for the plan's identity)."""
        keys: dict[str, Any] = {"by": self.by}
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
    """Each instance's stage: 0 without a :class:`Stage`, else its ranking instance's + 1.

    ``stages`` lists the plan's evaluator instances in table order; a stage ranks by an earlier
    instance (the plan check guarantees it).
    """
    out: dict[str, int] = {}
    for instance, stage in stages:
        out[instance] = 0 if stage is None else out[stage.instance] + 1
    return out


def select(stage: Stage, evaluations: Mapping[str, tuple[str, Mapping[str, Any]]]) -> Selection:
    """Choose the candidates of ``stage`` from the ranking instance's evaluations.

    ``evaluations`` maps the arch id of every candidate that reached the ranking instance to its
    ``(status, metrics)``; status ``skipped`` means it never entered. Returns the selected ids,
    best first (ties by id), and a reason for every other candidate in ``evaluations``.
    """
    entered = {a: sm for a, sm in evaluations.items() if sm[0] != SKIPPED}
    scored: list[tuple[float, str]] = []
    skipped: dict[str, str] = {}
    for arch, (status, metrics) in evaluations.items():
        value = metrics.get(stage.metric)
        if status == SKIPPED:
            skipped[arch] = f"not selected for {stage.instance}, so not ranked by {stage.by}"
        elif status != "done":
            skipped[arch] = f"{stage.instance} ended {status}, so it has no {stage.by} to rank"
        elif not _finite(value):
            skipped[arch] = f"{stage.by} is {value!r}, not a number to rank"
        else:
            scored.append((float(value), arch))
    scored.sort(key=lambda va: (-va[0] if stage.higher_is_better else va[0], va[1]))
    if stage.top is not None:
        n = stage.top
    else:
        n = max(1, math.ceil((stage.top_fraction or 0.0) * len(entered) - 1e-9))
    selected = [a for _, a in scored[:n]]
    for rank, (value, arch) in enumerate(scored[n:], start=n + 1):
        skipped[arch] = f"rank {rank:,} of {len(scored):,} by {stage.by} ({value:.6g}); only the {stage.describe()} go on"
    return Selection(selected, skipped)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
