"""Search: the ``optuna`` sampler proposes candidates through Optuna's ask/tell interface.

The space's :meth:`~rcx.api.arch.SearchSpace.grid` becomes Optuna distributions (an integer for
a ``range``, a categorical choice otherwise); each trial's values become an architecture through
``from_grid``; rcx evaluates it with the plan's evaluators and tells Optuna the objective: one
declared metric (``"naswot.score"``, its declared direction) or two for a Pareto front (a cost
``params``, ``flops`` or ``features`` counts as lower-is-better).

The results file is the record: each batch of trials (number, values, the sampler's attributes)
is written there in one transaction before its candidates are evaluated, and a resumed run
rebuilds the in-memory study from it. Trial k's sampler is seeded with
``derive_seed(seed, "optuna", k)``, so a proposal depends only on the plan seed and the trials
before it: a search proposes the same candidates whether or not it was interrupted (at any
point, also mid-batch with ``batch > 1``), and no trial is asked twice. A proposal of an
architecture already evaluated reuses its result; a candidate that fails is told ``FAIL``.

The search knows the space's validity: a proposal that does not fit the input (the space's
``describe`` says invalid, e.g. ``ksd`` kernels and strides that shrink 32x32 images below 1x1)
is told ``FAIL`` at once, recorded as *rejected* and asked again, up to :data:`MAX_REJECTIONS`
times per proposal; only then is an invalid one accepted (and recorded as an invalid
candidate). ``trials`` counts accepted proposals; the run logs a warning when most proposals
were invalid.
Optuna is an optional dependency (``pip install "rcx[search]"``); it is imported only here.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, SearchSpace
from rcx.api.seeding import derive_seed
from rcx.core.samplers import canonical_arch

if TYPE_CHECKING:
    import optuna

ALGORITHMS = ("tpe", "nsga2", "random")
COSTS = ("params", "flops", "features")
"""Architecture columns an objective may name; lower is better."""

MAX_REJECTIONS = 200
"""Invalid proposals told ``FAIL`` and asked again per accepted proposal before an invalid one
is accepted (a space that is almost all invalid on the input still ends)."""

INSTALL_HINT = 'the optuna sampler needs Optuna: pip install "rcx[search]"'


def optuna_available() -> bool:
    """Whether Optuna can be imported (without importing it)."""
    return importlib.util.find_spec("optuna") is not None


@dataclass(frozen=True)
class Objective:
    """One objective: ``column`` (``instance.metric`` or a cost) and its direction."""

    column: str
    maximize: bool

    @property
    def instance(self) -> str | None:
        return self.column.partition(".")[0] if "." in self.column else None

    @property
    def metric(self) -> str:
        return self.column.partition(".")[2] if "." in self.column else self.column


@dataclass(frozen=True)
class Proposal:
    """One asked trial: its ``number``, grid ``values``, the sampler's ``system_attrs`` and the
    architecture (None with ``error`` when the values make no architecture of the space)."""

    number: int
    values: dict[str, Any]
    system_attrs: dict[str, Any]
    arch: Arch | None
    error: str = ""
    rejected: bool = False

    def record(self) -> dict[str, Any]:
        """What the results file keeps of this trial (``rejected``: told FAIL and asked again)."""
        out = {"number": self.number, "values": self.values, "system_attrs": self.system_attrs,
               "arch": self.arch.id if self.arch else None, "error": self.error}
        if self.rejected:
            out["rejected"] = True
        return out


def distributions(grid: dict[str, Sequence[Any]]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna distributions of a space's grid: ``range`` -> integers, other sequences -> categorical."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, values in grid.items():
        if isinstance(values, range) and len(values) > 0:
            out[name] = IntDistribution(values[0], values[-1], step=values.step)
        else:
            out[name] = CategoricalDistribution(list(values))
    return out


def make_sampler(algorithm: str, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for ``algorithm`` seeded with ``seed`` (each takes one or two objectives)."""
    import optuna

    if algorithm == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if algorithm == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown search algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")


class Search:
    """An in-memory Optuna study over ``space``'s grid; the caller records and evaluates.

    ``objectives`` are 1 or 2; ``seed`` is the plan seed. Use :meth:`replay` with the recorded
    trials of a resumed run first, then alternate :meth:`ask` and :meth:`tell`.
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], algorithm: str, seed: int) -> None:
        import optuna

        grid = space.grid()
        if grid is None:
            raise ValueError(f"the {space.name} space declares no parameter grid, so it cannot be searched")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.objectives, self.algorithm, self.seed = space, list(objectives), algorithm, seed
        self.dists = distributions(grid)
        self.study = optuna.create_study(
            directions=["maximize" if o.maximize else "minimize" for o in self.objectives],
            sampler=make_sampler(algorithm, seed % 2**32),
        )
        self._open: dict[int, optuna.trial.Trial] = {}

    @property
    def trials(self) -> int:
        """Trials asked so far (replayed ones included)."""
        return len(self.study.trials)

    def replay(self, record: dict[str, Any], values: list[float] | None) -> None:
        """Add a recorded trial as finished (``values`` None: failed), in number order."""
        import optuna
        from optuna.trial import TrialState

        if record["number"] != self.trials:
            raise ValueError(f"recorded trial {record['number']} out of order (expected {self.trials})")
        dists = {k: v for k, v in self.dists.items() if k in record["values"]}
        self.study.add_trial(optuna.trial.create_trial(
            params=record["values"], distributions=dists, values=values,
            state=TrialState.COMPLETE if values is not None else TrialState.FAIL,
            system_attrs=record.get("system_attrs") or {},
        ))

    def ask(self) -> Proposal:
        """Ask Optuna for the next trial, its sampler seeded by the plan seed and trial number."""
        number = self.trials
        seed = derive_seed(self.seed, "optuna", number) % 2**32  # numpy's RandomState takes 32 bits
        self.study.sampler = make_sampler(self.algorithm, seed)
        trial = self.study.ask(self.dists)
        self._open[number] = trial
        values = dict(trial.params)
        try:
            arch, error = canonical_arch(self.space, self.space.from_grid(values).id), ""  # results key on it
        except (ValueError, KeyError, TypeError) as exc:
            arch, error = None, f"{type(exc).__name__}: {exc}"
        attrs = self.study.get_trials(deepcopy=False)[number].system_attrs
        return Proposal(number, values, _plain(attrs), arch, error)

    def ask_valid(self, why_invalid: Callable[[Arch], str],
                  limit: int = MAX_REJECTIONS) -> tuple[list[Proposal], Proposal]:
        """Ask until a proposal makes a valid architecture: ``(rejected, accepted)``. Each
        rejected proposal (no architecture, or ``why_invalid(arch)`` non-empty) is told FAIL at
        once; after ``limit`` rejections the next proposal is accepted whatever it is."""
        rejected: list[Proposal] = []
        while True:
            p = self.ask()
            why = p.error if p.arch is None else why_invalid(p.arch)
            if not why or len(rejected) >= limit:
                return rejected, p
            self.tell(p.number, None)
            rejected.append(replace(p, error=why, rejected=True))

    def tell(self, number: int, values: list[float] | None) -> None:
        """Finish an asked trial with its objective ``values`` (None: failed)."""
        from optuna.trial import TrialState

        trial = self._open.pop(number)
        if values is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, values)


def objective_values(objectives: Sequence[Objective], evaluations: dict[str, tuple[str, dict[str, Any]]],
                     info: dict[str, Any]) -> list[float] | None:
    """The objective values of one candidate, or None when any is missing (failed, not finite).

    ``evaluations`` maps an evaluator instance to its ``(status, metrics)`` for this candidate;
    ``info`` is the candidate's architecture summary (``params``, ``flops``, ...).
    """
    out = []
    for o in objectives:
        if o.instance is None:
            value = info.get(o.metric)
        else:
            status, metrics = evaluations.get(o.instance, ("missing", {}))
            value = metrics.get(o.metric) if status == "done" else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return None
        out.append(float(value))
    return out


def _plain(attrs: dict[str, Any]) -> dict[str, Any]:
    """System attributes as JSON can hold them (the samplers store numbers, strings and lists)."""
    import json

    return json.loads(json.dumps(attrs, default=str))

