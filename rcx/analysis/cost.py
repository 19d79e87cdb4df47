"""``rcx analyze cost``: what each score costs per architecture against how well it ranks.

For each evaluator's score (its first headline metric, or the ``--metrics`` given) of the run
and the joined files, and params/FLOPs as baselines: its Spearman with the truth and 95 % bootstrap interval (the
leaderboard's), and the median cost of one evaluation of its evaluator instance in
core-seconds per architecture. The cost is the CPU time rcx measured for each evaluation (the
store's ``cpu_s``, :func:`rcx.core.runner.evaluate_one`), which other processes sharing the
cores do not inflate; results files written before rcx measured it fall back to the CPU time
the evaluator recorded itself (``cpu_seconds`` in its extra data: the training evaluators),
else to the wall time times the run's torch threads (an upper bound of the core-seconds on a
shared machine); the ``cost`` column says which (``cpu``; ``cpu (K of N)`` for a file
resumed across the change: the K evaluations measured; ``wall xT``) and the note names the
instances that fell back to wall time. params and FLOPs cost nothing beyond describing the
architecture (0).

``--epochs`` adds each epoch of the training evaluators' learning curves as a score of its own
(``trained.val_acc@1``, ``trained.tse@2``: :func:`rcx.analysis.curves.with_epoch_columns`), at
the share of the training's core-seconds spent by then (epoch / last epoch): what each further
epoch buys.

Rows are sorted by cost. ``--plot`` draws Spearman against the core-seconds (log scale) in the
terminal; ``--save FILE.svg`` or ``FILE.png`` writes the same chart as an image (intervals as
bars, one labelled point per metric; :mod:`rcx.analysis.chart` draws both formats).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rcx.analysis.common import AnalysisError, emit, load_table

COLUMNS = ("metric", "kind", "n", "spearman", "spearman_lo", "spearman_hi", "core_seconds", "cost")
BASELINES = ("params", "flops")
CPU = "cpu"


@dataclass
class CostRow:
    """One metric: its Spearman (oriented: a good proxy is positive) with interval, the median
    core-seconds per architecture of its evaluator and where they come from (``cpu``; ``wall
    x N`` for an old file: wall seconds times N threads; ``none`` for the baselines)."""

    metric: str
    kind: str
    n: int
    spearman: float
    spearman_lo: float
    spearman_hi: float
    core_seconds: float
    cost: str


def run_threads(device_name: str) -> int:
    """The torch CPU threads a run used, read from its device name (``cpu (x86_64, 2 threads,
    AVX2)``); 1 where it does not say (a GPU run)."""
    found = re.search(r"(\d+) threads?\b", device_name)
    return max(1, int(found.group(1))) if found else 1


def _cpu_of(e: dict[str, Any]) -> float | None:
    """The CPU seconds of one evaluation: rcx's ``cpu_s``, else the evaluator's own
    ``cpu_seconds`` (training evaluators, before rcx measured every evaluation)."""
    for value in (e.get("cpu_s"), (e.get("extra") or {}).get("cpu_seconds")):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def evaluation_costs(paths: Sequence[Path], run_id: int | None = None) -> dict[str, tuple[float, str]]:
    """Median core-seconds per finished evaluation of every evaluator instance in the latest run
    of each file (``run_id`` for the first): ``{instance: (median, how)}``. ``how`` is ``cpu``
    when every evaluation has a CPU time; ``cpu (K of N)`` when only K of N have (a file resumed
    by an rcx that measures after one that did not: the median of those K); ``wall xT`` when
    none has (the median wall time times the run's T threads)."""
    from rcx.core.store import Store, StoreError

    out: dict[str, tuple[float, str]] = {}
    for i, path in enumerate(paths):
        try:
            store = Store.open_readonly(path)
            try:
                run = store.run(run_id if i == 0 else None)
                evaluations = store.evaluations(run.id)
            finally:
                store.close()
        except StoreError as exc:
            raise AnalysisError(str(exc)) from None
        threads = run_threads(run.device_name)
        by: dict[str, list[tuple[float | None, float | None]]] = {}
        for e in evaluations:
            if e["status"] in ("running", "failed", "invalid", "skipped"):
                continue
            by.setdefault(e["evaluator"], []).append((_cpu_of(e), e.get("seconds")))
        for instance, pairs in by.items():
            if instance in out:
                continue
            cpus = [c for c, _ in pairs if c is not None]
            if cpus:  # a file resumed across the change: the evaluations measured since (a random subset of cells)
                out[instance] = (statistics.median(cpus), CPU if len(cpus) == len(pairs) else
                                 f"{CPU} ({len(cpus)} of {len(pairs)})")
            else:
                walls = [w for _, w in pairs if isinstance(w, (int, float))]
                if walls:
                    out[instance] = (statistics.median(walls) * threads, f"wall x{threads}")
    return out


def cost_rows(report: Any, costs: dict[str, tuple[float, str]],
              shares: dict[str, float] | None = None) -> list[CostRow]:
    """Join a :class:`~rcx.analysis.proxies.ProxiesReport`'s rows with the costs, cheapest first;
    ``shares``: the fraction of its instance's cost an epoch column stands for (default 1)."""
    rows = []
    for r in report.rows:
        if r.metric in BASELINES:
            seconds, source = 0.0, "none"
        else:
            seconds, source = costs.get(r.metric.split(".", 1)[0], (math.nan, "unknown"))
            share = (shares or {}).get(r.metric, 1.0)
            seconds, source = seconds * share, source if share == 1.0 else f"{source}, {share:g} of it"
        rows.append(CostRow(r.metric, r.kind, r.n, r.spearman, r.spearman_lo, r.spearman_hi, seconds, source))
    return sorted(rows, key=lambda c: (math.isnan(c.core_seconds), c.core_seconds, c.metric))


X_TITLE = "core-seconds per architecture"
Y_TITLE = "Spearman with the truth (95 % interval)"


def chart_points(rows: Sequence[CostRow]) -> list[Any]:
    """The rows as :class:`rcx.analysis.chart.Point` s: x core-seconds, y Spearman with its
    interval, baselines muted."""
    from rcx.analysis.chart import Point

    return [Point(r.metric, r.core_seconds, r.spearman, r.spearman_lo, r.spearman_hi, r.kind == "baseline")
            for r in rows]


def terminal_chart(rows: Sequence[CostRow], title: str, stream: IO[str] | None = None, width: int = 100) -> str:
    """Spearman (y) against core-seconds per architecture (x, log scale) with plotext, written to
    ``stream`` (colours only on a terminal); returns the text."""
    import plotext as plt

    from rcx.analysis.chart import terminal

    stream = stream or sys.stdout
    text = terminal(chart_points(rows), title, X_TITLE, "Spearman", width=width)
    stream.write((text if stream.isatty() else plt.uncolorize(text)) + "\n")
    return text


def svg_chart(rows: Sequence[CostRow], title: str) -> str:
    """The chart as an SVG document: x core-seconds (log), y Spearman, interval bars, labels."""
    from rcx.analysis.chart import layout, svg

    return svg(layout(chart_points(rows), title, X_TITLE, Y_TITLE))


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze cost`` command."""
    from rcx.analysis.combine import score_columns
    from rcx.analysis.proxies import proxies_report
    from rcx.analysis.truth import resolve_names
    from rcx.exits import EXIT_OK, EXIT_USAGE, error
    from rcx.termtable import format_value

    try:
        table, run_id = load_table(args.db, args.run, (), args.join)
        shares: dict[str, float] = {}
        if args.epochs:
            from rcx.analysis.curves import with_epoch_columns

            table, shares = with_epoch_columns(table, [args.db, *args.join], args.run)
        table, (truth,) = resolve_names(table, [args.truth])
        if args.metrics:
            names = [m.strip() for m in args.metrics.split(",") if m.strip()]
        else:  # each evaluator's score (its first headline metric), its epochs with --epochs, the size baselines
            scores = score_columns(table)
            names = [*scores, *(c for c in shares if c.rsplit("@", 1)[0] in scores),
                     *(b for b in BASELINES if b in table.columns)]
        report = proxies_report(table, truth, boot=args.boot, seed=args.seed, runs=1, n_arch=1, metrics=names)
        rows = cost_rows(report, evaluation_costs([args.db, *args.join], args.run), shares)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    title = f"core-seconds against Spearman with {report.truth} (run {run_id})"
    fallback = sorted({r.metric.split(".", 1)[0] for r in rows if r.cost.startswith("wall")})
    note = (f"{report.n_truth} architectures have {report.truth}; Spearman oriented (lower-is-better metrics negated) "
            f"with 95% bootstrap intervals (B={report.boot}); core_seconds: median CPU seconds per architecture of "
            "the metric's evaluator, as rcx measured them (cost = cpu; other processes on the cores do not count)")
    if shares:
        note += ("; NAME@E: the metric after epoch E of its training's schedule (not a shorter schedule's result), "
                 "at E / the last epoch of the training's core-seconds")
    if fallback:
        note += (f"; {', '.join(fallback)}: results written before rcx recorded CPU time, so wall seconds x the run's "
                 "torch threads (cost = wall xN; an upper bound of the core-seconds when the cores were shared)")
    plain = [{k: getattr(r, k) for k in COLUMNS} for r in rows]
    shown = [{**{k: format_value(v) if isinstance(v, float) else v for k, v in p.items()},
              "spearman": f"{r.spearman:+.3f} [{r.spearman_lo:+.2f}, {r.spearman_hi:+.2f}]"
              if math.isfinite(r.spearman_lo) else f"{r.spearman:+.3f}"} for p, r in zip(plain, rows)]
    heads = ["metric", "kind", "n", "spearman", "core_seconds", "cost"]
    emit(args.format, COLUMNS if args.format != "table" else heads, plain if args.format != "table" else shown,
         title=title, meta={"db": str(args.db), "joined": [str(p) for p in args.join], "run": run_id,
                            "truth": report.truth, "boot": report.boot, "seed": report.seed, "wall_fallback": fallback},
         note=note)
    if args.format == "table" and args.plot:
        terminal_chart(rows, title)
    if args.save:
        from rcx.analysis.chart import save

        try:
            save(chart_points(rows), args.save, title, X_TITLE, Y_TITLE)
        except (ValueError, OSError) as exc:
            error(str(exc))
            return EXIT_USAGE
        print(f"chart: {args.save}", file=sys.stderr)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cost`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "cost", help="each score's core-seconds per architecture against its Spearman with a truth (table, chart)",
        description="For every metric (and params/FLOPs): Spearman with the truth and its 95% bootstrap interval, "
                    "and the median core-seconds (CPU time) per architecture of its evaluator (old results files: "
                    "wall time x threads), cheapest first; --plot draws it in the terminal, --save writes the chart "
                    "as an SVG or PNG image.")
    p.add_argument("db", type=Path, help="results file")
    p.add_argument("--run", type=int, help="run id (default: the latest)")
    p.add_argument("--join", type=Path, action="append", default=[], metavar="DB",
                   help="join another results file's evaluator columns (and costs) by architecture id (repeatable)")
    p.add_argument("--truth", required=True, help="truth table subset, e.g. nb201:cifar10, or a column")
    p.add_argument("--metrics", metavar="COLS",
                   help="these columns (comma-separated; default: each evaluator's score, its first headline metric, "
                        "and params, flops)")
    p.add_argument("--epochs", action="store_true",
                   help="also rank each epoch of the training evaluators' learning curves (NAME@E: after epoch E, at "
                        "E / the last epoch of the training's cost; --metrics may name them, e.g. trained.tse@2)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples (default 0)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--plot", action="store_true", help="table format: also draw the chart in the terminal")
    p.add_argument("--save", type=Path, metavar="FILE.svg|FILE.png",
                   help="write the chart as an image: SVG or PNG, by the file's suffix")
    p.set_defaults(func=run)
