"""Results as a flat table: one row per candidate, columns named ``<evaluator>.<metric>``.

Shared by ``rcx results`` and, later, the TUI. Columns: ``arch``, the space's parameters under
their own names, the architecture summary (``params``, ``flops``, ``features``, ``ratio``,
``out_shape``), then per evaluator instance ``<instance>.status``, its metrics,
``<instance>.cpu_s`` (the CPU seconds of each evaluation, :data:`CPU_COLUMN`; only where the
results file recorded them) and ``<instance>.error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rcx.core.scores import ARCH_BASELINES, BASELINE, DESCRIPTION, SCORE, parse_score, rank_average_rows, score_name
from rcx.core.store import Store
from rcx.plugins import Registry, UnknownName

ARCH_COLUMNS = ("params", "flops", "features", "ratio", "out_shape")
CPU_COLUMN = "cpu_s"
"""``<instance>.cpu_s``: the CPU seconds (core-seconds) the store recorded for the evaluation,
beside the wall time an evaluator reports as its ``seconds`` metric."""
PENDING = "pending"
"""The status a table shows for an evaluation that has not run yet: its row's ``<instance>.status``
is None (the results file has no evaluation), which JSON and CSV keep as null/empty."""


@dataclass
class ResultsTable:
    """``rows`` are dicts keyed by ``columns``; ``higher_is_better`` maps metric columns (and
    the baselines ``params``, ``flops``, ``features``) to their declared direction; ``roles``
    maps them to ``score``, ``description`` or ``baseline`` (:mod:`rcx.core.scores`);
    ``evaluators`` lists instance names in plan order; ``space`` is the run's search space (None
    when the plan does not say); ``units`` maps metric columns to their declared unit."""

    columns: list[str]
    rows: list[dict[str, Any]]
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    evaluators: list[str] = field(default_factory=list)
    headline: dict[str, tuple[str, ...]] = field(default_factory=dict)
    space: str | None = None
    stages: dict[str, int] = field(default_factory=dict)  # instance -> stage (plans with stages)
    roles: dict[str, str] = field(default_factory=dict)
    stage_by: dict[str, str] = field(default_factory=dict)  # staged instance -> its score's column
    units: dict[str, str] = field(default_factory=dict)  # metric column -> declared unit ("count": epochs reads 1)

    def summary_columns(self) -> list[str]:
        """A narrow view: the id, feature size, and per evaluator its status and headline metrics
        (the CPU seconds beside a headline wall time, ``seconds``)."""
        cols = ["arch", "params", "features"]
        for inst in self.evaluators:
            cols.append(f"{inst}.status")
            for m in self.headline.get(inst, ()):
                cols.append(f"{inst}.{m}")
                if m == "seconds":
                    cols.append(f"{inst}.{CPU_COLUMN}")
        return [c for c in cols if c in self.columns]

    def metric_columns(self) -> list[str]:
        """Every column with a declared direction (metrics, baselines, rank averages)."""
        return [c for c in self.columns if c in self.higher_is_better]

    def score_columns(self) -> list[str]:
        """The columns to rank architectures by: scores and baselines, not descriptions (a
        column without a declared role, such as a truth, counts as a score)."""
        return [c for c in self.metric_columns() if self.roles.get(c, SCORE) != "description"]

    def resolve(self, name: str) -> str:
        """A column by full name, or by a metric name that is unique across evaluators; a rank
        average (``"a,b,c"`` or ``"rankavg(a,b,c)"``, :mod:`rcx.core.scores`) of such columns is
        added to the table as a column (lower is better) and its name returned."""
        if name in self.columns:
            return name
        if "," in name:
            try:
                parts = parse_score(name)
            except ValueError as exc:
                raise KeyError(str(exc)) from None
            return self.add_rank_average([self.resolve(p) for p in parts])
        matches = [c for c in self.columns if c.endswith(f".{name}")]
        if len(matches) == 1:
            return matches[0]
        hint = f"ambiguous, one of: {', '.join(matches)}" if matches else f"known: {', '.join(self.columns)}"
        raise KeyError(f"no column {name!r} ({hint})")

    def add_rank_average(self, columns: list[str]) -> str:
        """Add the rank average of ``columns`` (full names, each with a declared direction) as a
        column; returns its name. Raises ``KeyError`` for a column without a direction."""
        name = score_name(columns)
        if name in self.columns:
            return name
        undeclared = [c for c in columns if c not in self.higher_is_better]
        if undeclared:
            raise KeyError(f"{undeclared[0]!r} has no declared direction, so it cannot enter a rank average "
                           f"(columns with one: {', '.join(self.score_columns())})")
        values = rank_average_rows(self.rows, columns, [self.higher_is_better[c] for c in columns])
        for row, v in zip(self.rows, values):
            row[name] = v
        self.columns.append(name)
        self.higher_is_better[name] = False
        self.roles[name] = SCORE
        return name

    def default_sort(self) -> str | None:
        """The first evaluator's first headline score (e.g. ``cvu.cv_u``, lower is better),
        else the first score column. In a plan with stages, the first evaluator of the last
        stage: the funnel's final word sorts the table (:meth:`funnel_order` puts the
        finalists first)."""
        for inst in sorted(self.evaluators, key=lambda i: -self.stages.get(i, 0)):
            for metric in self.headline.get(inst, ()):
                col = f"{inst}.{metric}"
                if col in self.higher_is_better and self.roles.get(col, SCORE) == SCORE:
                    return col
        return next((c for c in self.score_columns() if self.roles.get(c, SCORE) == SCORE), None)

    def reached(self, row: dict[str, Any]) -> int:
        """The last stage whose evaluations ran on ``row`` (0 without stages)."""
        return max((self.stages.get(i, 0) for i in self.evaluators
                    if row.get(f"{i}.status") not in (None, "skipped")), default=0)

    def funnel_order(self) -> list[dict[str, Any]]:
        """A funnel's rows: by stage reached (finalists first), then within a stage by the score
        that decided (the next stage's ``by`` for those that stopped there, the default sort for
        the finalists), best first, missing values last."""
        last = max(self.stages.values(), default=0)
        deciding: dict[int, str | None] = {last: self.default_sort()}
        for inst, by in self.stage_by.items():
            deciding.setdefault(self.stages.get(inst, 1) - 1, by if by in self.columns else None)
        groups: dict[int, list[dict[str, Any]]] = {}
        for row in self.rows:
            groups.setdefault(self.reached(row), []).append(row)
        out: list[dict[str, Any]] = []
        for stage in sorted(groups, reverse=True):
            col = deciding.get(stage)
            out += _sort_rows(groups[stage], col, self.higher_is_better.get(col, False)) if col else groups[stage]
        return out

    def sorted(self, column: str, descending: bool | None = None) -> list[dict[str, Any]]:
        """Rows sorted by ``column`` (best first by the metric's direction unless given);
        missing values always sort last."""
        if descending is None:
            descending = self.higher_is_better.get(column, False)
        return _sort_rows(self.rows, column, descending)


def _sort_rows(rows: list[dict[str, Any]], column: str, descending: bool) -> list[dict[str, Any]]:
    """``rows`` by ``column`` (stable), missing and NaN values last whatever the order."""

    def key(row: dict[str, Any]) -> tuple[int, Any]:
        v = row.get(column)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return (1, 0)
        if isinstance(v, (int, float)):
            return (0, -v if descending else v)
        return (0, v)

    if descending and any(isinstance(r.get(column), str) for r in rows):
        present = [r for r in rows if r.get(column) is not None]
        missing = [r for r in rows if r.get(column) is None]
        return sorted(present, key=lambda r: r[column], reverse=True) + missing
    return sorted(rows, key=key)


def results_table(store: Store, run_id: int | None = None, registry: Registry | None = None) -> ResultsTable:
    """Build the flat table of one run (the latest when ``run_id`` is None)."""
    run = store.run(run_id)
    plan_evaluators: dict[str, dict[str, Any]] = run.plan.get("evaluators", {})
    instances = list(plan_evaluators)
    candidates = store.candidates(run.id)
    evaluations = store.evaluations(run.id)

    param_cols: list[str] = []
    for c in candidates[:1]:
        param_cols = list(c["params"])
    metric_cols: dict[str, list[str]] = {i: [] for i in instances}
    higher: dict[str, bool] = {c: m.higher_is_better for c, m in ARCH_BASELINES.items()}
    roles: dict[str, str] = {c: BASELINE for c in ARCH_BASELINES}
    units: dict[str, str] = {}
    headline: dict[str, tuple[str, ...]] = {}
    for inst in instances:
        plugin = plan_evaluators[inst].get("evaluator", inst)
        declared = []
        if registry is not None:
            try:
                evaluator_cls = registry.get("evaluator", plugin)
                declared = evaluator_cls.metrics
                headline[inst] = tuple(evaluator_cls.headline_metrics())
            except UnknownName:
                declared = []
        for m in declared:
            metric_cols[inst].append(m.name)
            higher[f"{inst}.{m.name}"] = m.higher_is_better
            roles[f"{inst}.{m.name}"] = m.role
            units[f"{inst}.{m.name}"] = m.unit
    for e in evaluations:  # metrics of evaluators whose plugin is not installed here
        cols = metric_cols.setdefault(e["evaluator"], [])
        cols.extend(k for k in e["metrics"] if k not in cols)

    rows: dict[str, dict[str, Any]] = {}
    timed: set[str] = set()  # instances with a recorded cpu_s
    for c in candidates:
        row = {"arch": c["arch"], **c["params"], **{k: c["info"].get(k) for k in ARCH_COLUMNS}}
        for inst in metric_cols:
            row[f"{inst}.status"] = None
        rows[c["arch"]] = row
    for e in evaluations:
        if e["arch"] not in rows:
            continue
        row = rows[e["arch"]]
        inst = e["evaluator"]
        row[f"{inst}.status"] = e["status"]
        for k, v in e["metrics"].items():
            row[f"{inst}.{k}"] = v
        if e.get("cpu_s") is not None and CPU_COLUMN not in e["metrics"]:
            row[f"{inst}.{CPU_COLUMN}"] = e["cpu_s"]
            timed.add(inst)
        if e["error"]:
            row[f"{inst}.error"] = e["error"]

    columns = ["arch", *param_cols, *ARCH_COLUMNS]
    for inst, cols in metric_cols.items():
        cpu = [f"{inst}.{CPU_COLUMN}"] if inst in timed and CPU_COLUMN not in cols else []
        for cost_col in cpu:  # a cost: lower is better, a description (never a score)
            higher[cost_col], roles[cost_col] = False, DESCRIPTION
        columns += [f"{inst}.status", *(f"{inst}.{m}" for m in cols), *cpu, f"{inst}.error"]
    for row in rows.values():
        for col in columns:
            row.setdefault(col, None)
    space = (run.plan.get("space") or {}).get("name")
    stages: dict[str, int] = {}
    stage_by: dict[str, str] = {}
    for inst, table in plan_evaluators.items():  # "by" names earlier tables, so this is in order
        by = table.get("by")
        if not by:
            stages[inst] = 0
            continue
        parts = parse_score(by)
        stages[inst] = max((stages.get(p.partition(".")[0], 0) for p in parts if "." in p), default=0) + 1
        stage_by[inst] = score_name(parts)
    result = ResultsTable(columns, list(rows.values()), higher, list(metric_cols), headline, space, stages, roles,
                          stage_by, units)
    for col in stage_by.values():  # a stage's rank average is a column of its own
        if col not in result.columns:
            try:
                result.add_rank_average(list(parse_score(col)))
            except KeyError:  # a plugin not installed here: no direction to rank by
                pass
    return result
