"""``rcx analyze repeats``: a metric's mean and spread over repeated evaluator instances.

A plan repeats an evaluation with another seed by adding an instance whose name differs only in
a ``_s<N>`` suffix (``frozen_s0``, ``frozen_s1``: every seed derives from the instance name).
This analysis groups such instances (``frozen``) and reports, per architecture and group, how
many finished, the mean, the sample standard deviation and the range of one metric: the
tables of seeds 003 and 004 (accuracy per expansion or fraction over seeds).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
from pathlib import Path
from typing import Any

from rcx.analysis.common import AnalysisError, emit

COLUMNS = ("arch", "group", "n", "mean", "std", "min", "max", "instances")
_SUFFIX = re.compile(r"_s\d+$")


def group_of(instance: str) -> str:
    """The instance name without a trailing ``_s<N>`` repeat suffix."""
    return _SUFFIX.sub("", instance)


def _plan_order(plan_text: str) -> list[str]:
    """The evaluator instances in the order the plan file declares them (the stored normalised
    plan keeps its keys sorted); empty where the text does not parse."""
    import tomllib

    try:
        evaluators = tomllib.loads(plan_text).get("evaluators", {})
    except tomllib.TOMLDecodeError:
        return []
    return list(evaluators) if isinstance(evaluators, dict) else []


def repeats(db: Path, metric: str, run_id: int | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(run id, rows): per (architecture in candidate order, group in plan order) the finished
    evaluations' ``metric``: n, mean, std (sample; None for n < 2), min, max, instances."""
    from rcx.core.store import Store

    store = Store.open_readonly(db)
    try:
        run = store.run(run_id)
        order = {c["arch"]: i for i, c in enumerate(store.candidates(run.id))}
        evaluations = store.evaluations(run.id)
        instances = _plan_order(run.plan_text) or list(run.plan.get("evaluators", {}))
    finally:
        store.close()
    groups = list(dict.fromkeys(group_of(i) for i in instances))
    values: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for e in evaluations:
        v = e["metrics"].get(metric)
        if e["status"] == "done" and isinstance(v, (int, float)) and math.isfinite(v):
            values.setdefault((e["arch"], group_of(e["evaluator"])), []).append((e["evaluator"], float(v)))
    finished = [e for e in evaluations if e["status"] == "done"]
    if not values and finished:  # a metric no finished evaluation has: a typo, not "nothing yet"
        known = sorted({k for e in finished for k in e["metrics"]})
        raise AnalysisError(f"no finished evaluation of run {run.id} has the metric {metric!r} "
                            f"(metrics: {', '.join(known) or 'none'})")
    rank = {g: i for i, g in enumerate(groups)}
    rows = []
    for (arch, group), pairs in sorted(values.items(), key=lambda kv: (order.get(kv[0][0], 1 << 30),
                                                                      rank.get(kv[0][1], 1 << 30), kv[0][1])):
        xs = [v for _, v in pairs]
        rows.append({"arch": arch, "group": group, "n": len(xs), "mean": statistics.fmean(xs),
                     "std": statistics.stdev(xs) if len(xs) > 1 else None, "min": min(xs), "max": max(xs),
                     "instances": ",".join(sorted(i for i, _ in pairs))})
    return run.id, rows


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze repeats`` command."""
    from rcx.core.store import StoreError
    from rcx.exits import EXIT_OK, EXIT_USAGE, error
    from rcx.termtable import format_value

    try:
        run_id, rows = repeats(args.db, args.metric, args.run)
    except (StoreError, AnalysisError) as exc:
        error(str(exc))
        return EXIT_USAGE
    title = f"{args.metric} over repeated instances (*_s<N>), run {run_id} of {args.db}"
    shown = [{k: r[k] if k in ("arch", "group", "instances") else format_value(r[k]) for k in COLUMNS} for r in rows]
    emit(args.format, COLUMNS, rows, title=title, meta={"db": str(args.db), "run": run_id, "metric": args.metric},
         table_rows=shown, note="" if rows else "no finished evaluation yet")
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``repeats`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "repeats", help="a metric's mean and spread over repeated instances (name_s0, name_s1, ...)",
        description="Group the evaluator instances whose names differ only in a _s<N> suffix (the same evaluation "
                    "with other seeds) and report per architecture and group: n, mean, sample std, min, max of one "
                    "metric over the finished evaluations.")
    p.add_argument("db", type=Path, help="results file")
    p.add_argument("--run", type=int, help="run id (default: the latest)")
    p.add_argument("--metric", default="val_acc", help="the metric (default val_acc)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=run)
