"""Results as a flat table: one row per candidate, columns named ``<evaluator>.<metric>``.

Shared by ``rcx results`` and, later, the TUI. Columns: ``arch``, the space's parameters under
their own names, the architecture summary (``params``, ``flops``, ``features``, ``ratio``,
``out_shape``), then per evaluator instance ``<instance>.status``, its metrics and
``<instance>.error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rcx.core.store import Store
from rcx.plugins import Registry, UnknownName

ARCH_COLUMNS = ("params", "flops", "features", "ratio", "out_shape")


@dataclass
class ResultsTable:
    """``rows`` are dicts keyed by ``columns``; ``higher_is_better`` maps metric columns to
    their declared direction; ``evaluators`` lists instance names in plan order; ``space`` is
    the run's search space (None when the plan does not say)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    evaluators: list[str] = field(default_factory=list)
    headline: dict[str, tuple[str, ...]] = field(default_factory=dict)
    space: str | None = None
    stages: dict[str, int] = field(default_factory=dict)  # instance -> stage (plans with stages)

    def summary_columns(self) -> list[str]:
        """A narrow view: the id, feature size, and per evaluator its status and headline metrics."""
        cols = ["arch", "params", "features"]
        for inst in self.evaluators:
            cols.append(f"{inst}.status")
            cols += [c for m in self.headline.get(inst, ()) if (c := f"{inst}.{m}") in self.columns]
        return [c for c in cols if c in self.columns]

    def metric_columns(self) -> list[str]:
        """Every ``<instance>.<metric>`` column with a declared direction."""
        return [c for c in self.columns if c in self.higher_is_better]

    def resolve(self, name: str) -> str:
        """A column by full name, or by a metric name that is unique across evaluators."""
        if name in self.columns:
            return name
        matches = [c for c in self.columns if c.endswith(f".{name}")]
        if len(matches) == 1:
            return matches[0]
        hint = f"ambiguous, one of: {', '.join(matches)}" if matches else f"known: {', '.join(self.columns)}"
        raise KeyError(f"no column {name!r} ({hint})")

    def default_sort(self) -> str | None:
        """The first evaluator's first headline metric (e.g. ``cvu.cv_u``, lower is better),
        else the first metric with a declared direction. In a plan with stages, the first
        evaluator of the last stage: the funnel's final word sorts the table."""
        for inst in sorted(self.evaluators, key=lambda i: -self.stages.get(i, 0)):
            for metric in self.headline.get(inst, ()):
                if f"{inst}.{metric}" in self.higher_is_better:
                    return f"{inst}.{metric}"
        return next(iter(self.higher_is_better), None)

    def sorted(self, column: str, descending: bool | None = None) -> list[dict[str, Any]]:
        """Rows sorted by ``column`` (best first by the metric's direction unless given);
        missing values always sort last."""
        if descending is None:
            descending = self.higher_is_better.get(column, False)

        def key(row: dict[str, Any]) -> tuple[int, Any]:
            v = row.get(column)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return (1, 0)
            if isinstance(v, (int, float)):
                return (0, -v if descending else v)
            return (0, v)

        if descending and any(isinstance(r.get(column), str) for r in self.rows):
            present = [r for r in self.rows if r.get(column) is not None]
            missing = [r for r in self.rows if r.get(column) is None]
            return sorted(present, key=lambda r: r[column], reverse=True) + missing
        return sorted(self.rows, key=key)


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
    higher: dict[str, bool] = {}
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
    for e in evaluations:  # metrics of evaluators whose plugin is not installed here
        cols = metric_cols.setdefault(e["evaluator"], [])
        cols.extend(k for k in e["metrics"] if k not in cols)

    rows: dict[str, dict[str, Any]] = {}
    for c in candidates:
        row = {"arch": c["arch"], **c["params"], **{k: c["info"].get(k) for k in ARCH_COLUMNS}}
        for inst in metric_cols:
            row[f"{inst}.status"] = None
        rows[c["arch"]] = row
    for e in evaluations:
        row = rows.get(e["arch"])
        if row is None:
            continue
        inst = e["evaluator"]
        row[f"{inst}.status"] = e["status"]
        for k, v in e["metrics"].items():
            row[f"{inst}.{k}"] = v
        if e["error"]:
            row[f"{inst}.error"] = e["error"]

    columns = ["arch", *param_cols, *ARCH_COLUMNS]
    for inst, cols in metric_cols.items():
        columns += [f"{inst}.status", *(f"{inst}.{m}" for m in cols), f"{inst}.error"]
    for row in rows.values():
        for col in columns:
            row.setdefault(col, None)
    space = (run.plan.get("space") or {}).get("name")
    stages: dict[str, int] = {}
    for inst, table in plan_evaluators.items():  # "by" names an earlier table, so this is in order
        by = table.get("by")
        stages[inst] = stages.get(str(by).partition(".")[0], 0) + 1 if by else 0
    return ResultsTable(columns, list(rows.values()), higher, list(metric_cols), headline, space, stages)
