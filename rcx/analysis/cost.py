"""``rcx analyze cost``: what each score costs per architecture against how well it ranks.

For each evaluator's score (its first headline metric, or the ``--metrics`` given) of the run
and the joined files, and params/FLOPs as baselines: its Spearman with the truth and 95 % bootstrap interval (the
leaderboard's), and the median cost of one evaluation of its evaluator instance, in seconds
per architecture. The cost is the evaluation's process CPU time where the evaluator records
it (``cpu_seconds`` in its extra data: the training evaluators), which other processes sharing
the cores do not inflate, else its wall time (``seconds``); the ``cost`` column says which.
params and FLOPs cost nothing beyond describing the architecture (0).

Rows are sorted by cost. ``--plot`` draws Spearman against log10(cost) in the terminal;
``--save FILE.svg`` writes the same chart as an SVG image (intervals as bars, one labelled
point per metric).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rcx.analysis.common import AnalysisError, emit, load_table

COLUMNS = ("metric", "kind", "n", "spearman", "spearman_lo", "spearman_hi", "seconds", "cost")
BASELINES = ("params", "flops")


@dataclass
class CostRow:
    """One metric: its Spearman (oriented: a good proxy is positive) with interval, the median
    seconds per architecture of its evaluator and where they come from (``cpu``, ``wall``,
    ``none`` for the baselines)."""

    metric: str
    kind: str
    n: int
    spearman: float
    spearman_lo: float
    spearman_hi: float
    seconds: float
    cost: str


def evaluation_costs(paths: Sequence[Path], run_id: int | None = None) -> dict[str, tuple[float, str]]:
    """Median seconds per finished evaluation of every evaluator instance in the latest run of
    each file (``run_id`` for the first): ``{instance: (median, "cpu" | "wall")}``; "cpu" when
    every evaluation recorded ``cpu_seconds``."""
    from rcx.core.store import Store, StoreError

    out: dict[str, tuple[float, str]] = {}
    for i, path in enumerate(paths):
        try:
            store = Store.open_readonly(path)
            try:
                evaluations = store.evaluations(store.run(run_id if i == 0 else None).id)
            finally:
                store.close()
        except StoreError as exc:
            raise AnalysisError(str(exc)) from None
        by: dict[str, list[tuple[float | None, float | None]]] = {}
        for e in evaluations:
            if e["status"] in ("running", "failed", "invalid", "skipped"):
                continue
            cpu = (e.get("extra") or {}).get("cpu_seconds")
            by.setdefault(e["evaluator"], []).append((cpu if isinstance(cpu, (int, float)) else None, e.get("seconds")))
        for instance, pairs in by.items():
            if instance in out:
                continue
            cpus = [c for c, _ in pairs if c is not None]
            if len(cpus) == len(pairs):
                out[instance] = (statistics.median(cpus), "cpu")
            else:
                walls = [w for _, w in pairs if isinstance(w, (int, float))]
                if walls:
                    out[instance] = (statistics.median(walls), "wall")
    return out


def cost_rows(report: Any, costs: dict[str, tuple[float, str]]) -> list[CostRow]:
    """Join a :class:`~rcx.analysis.proxies.ProxiesReport`'s rows with the costs, cheapest first."""
    rows = []
    for r in report.rows:
        if r.metric in BASELINES:
            seconds, source = 0.0, "none"
        else:
            seconds, source = costs.get(r.metric.split(".", 1)[0], (math.nan, "unknown"))
        rows.append(CostRow(r.metric, r.kind, r.n, r.spearman, r.spearman_lo, r.spearman_hi, seconds, source))
    return sorted(rows, key=lambda c: (math.isnan(c.seconds), c.seconds, c.metric))


def _log_cost(seconds: float, floor: float) -> float:
    return math.log10(max(seconds, floor))


def terminal_chart(rows: Sequence[CostRow], title: str, stream: IO[str] | None = None, width: int = 100) -> str:
    """Spearman (y) against log10 seconds per architecture (x) with plotext; returns the text."""
    import plotext as plt  # lazily: only when asked to draw

    stream = stream or sys.stdout
    shown = [r for r in rows if math.isfinite(r.spearman) and math.isfinite(r.seconds)]
    floor = min([r.seconds for r in shown if r.seconds > 0] or [1e-3]) / 10
    plt.clear_figure()
    plt.theme("clear")
    for r in shown:
        x = _log_cost(r.seconds, floor)
        if math.isfinite(r.spearman_lo):
            plt.plot([x, x], [r.spearman_lo, r.spearman_hi], marker="│", color="gray")
        plt.scatter([x], [r.spearman], marker="●")
        plt.text(r.metric, x, r.spearman)
    if shown:  # room for the labels, which start at their point and run right
        xs = [_log_cost(r.seconds, floor) for r in shown]
        plt.xlim(min(xs) - 0.3, max(xs) + 0.25 * (max(xs) - min(xs) + 1))
    plt.xlabel("log10 seconds per architecture (0 s shown at the floor)")
    plt.ylabel("Spearman")
    plt.title(title)
    plt.plotsize(width, 28)
    text = plt.build()
    plt.clear_figure()
    stream.write((text if stream.isatty() else plt.uncolorize(text)) + "\n")
    return text


def svg_chart(rows: Sequence[CostRow], title: str, width: int = 900, height: int = 560) -> str:
    """The same chart as an SVG document: x log10 seconds, y Spearman, interval bars, labels."""
    from xml.sax.saxutils import escape

    shown = [r for r in rows if math.isfinite(r.spearman) and math.isfinite(r.seconds)]
    floor = min([r.seconds for r in shown if r.seconds > 0] or [1e-3]) / 10
    xs = [_log_cost(r.seconds, floor) for r in shown] or [0.0]
    lows = [r.spearman_lo if math.isfinite(r.spearman_lo) else r.spearman for r in shown] or [0.0]
    highs = [r.spearman_hi if math.isfinite(r.spearman_hi) else r.spearman for r in shown] or [1.0]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs)) + (1 if math.ceil(max(xs)) == math.floor(min(xs)) else 0)
    y0, y1 = min(0.0, math.floor(min(lows) * 10) / 10), max(1.0, math.ceil(max(highs) * 10) / 10)
    left, right, top, bottom = 70, 30, 50, 60
    px = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    py = lambda y: top + (y1 - y) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>']
    for k in range(x0, x1 + 1):  # decades
        out.append(f'<line x1="{px(k):.1f}" y1="{top}" x2="{px(k):.1f}" y2="{height - bottom}" stroke="#ddd"/>'
                   f'<text x="{px(k):.1f}" y="{height - bottom + 18}" text-anchor="middle">{10.0 ** k:g} s</text>')
    steps = int(round((y1 - y0) / 0.1))
    for k in range(steps + 1):
        y = y0 + k * 0.1
        out.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{width - right}" y2="{py(y):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.1f}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">seconds per architecture (log scale; '
               f'0 s at {floor:.2g} s)</text>')
    out.append(f'<text x="18" y="{height / 2}" text-anchor="middle" transform="rotate(-90 18 {height / 2})">'
               'Spearman with the truth (95 % interval)</text>')
    for r, x in zip(shown, xs):
        colour = "#888" if r.kind == "baseline" else "#1f77b4"
        if math.isfinite(r.spearman_lo):
            out.append(f'<line x1="{px(x):.1f}" y1="{py(r.spearman_lo):.1f}" x2="{px(x):.1f}" '
                       f'y2="{py(r.spearman_hi):.1f}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(r.spearman):.1f}" r="4" fill="{colour}"/>'
                   f'<text x="{px(x) + 7:.1f}" y="{py(r.spearman) - 6:.1f}">{escape(r.metric)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze cost`` command."""
    from rcx.analysis.combine import score_columns
    from rcx.analysis.proxies import proxies_report
    from rcx.analysis.truth import resolve_names
    from rcx.exits import EXIT_OK, EXIT_USAGE, error
    from rcx.termtable import format_value

    try:
        table, run_id = load_table(args.db, args.run, (), args.join)
        table, (truth,) = resolve_names(table, [args.truth])
        if args.metrics:
            names = [m.strip() for m in args.metrics.split(",") if m.strip()]
        else:  # each evaluator's score (its first headline metric) and the size baselines
            names = [*score_columns(table), *(b for b in BASELINES if b in table.columns)]
        report = proxies_report(table, truth, boot=args.boot, seed=args.seed, runs=1, n_arch=1, metrics=names)
        rows = cost_rows(report, evaluation_costs([args.db, *args.join], args.run))
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    title = f"cost against Spearman with {report.truth} (run {run_id})"
    note = (f"{report.n_truth} architectures have {report.truth}; Spearman oriented (lower-is-better metrics negated) "
            f"with 95% bootstrap intervals (B={report.boot}); seconds: median per architecture of the metric's "
            "evaluator, process CPU time where recorded (cost = cpu), else wall time (wall: inflated when the cores "
            "were shared)")
    plain = [{k: getattr(r, k) for k in COLUMNS} for r in rows]
    shown = [{**{k: format_value(v) if isinstance(v, float) else v for k, v in p.items()},
              "spearman": f"{r.spearman:+.3f} [{r.spearman_lo:+.2f}, {r.spearman_hi:+.2f}]"
              if math.isfinite(r.spearman_lo) else f"{r.spearman:+.3f}"} for p, r in zip(plain, rows)]
    heads = ["metric", "kind", "n", "spearman", "seconds", "cost"]
    emit(args.format, COLUMNS if args.format != "table" else heads, plain if args.format != "table" else shown,
         title=title, meta={"db": str(args.db), "joined": [str(p) for p in args.join], "run": run_id,
                            "truth": report.truth, "boot": report.boot, "seed": report.seed},
         note=note)
    if args.format == "table" and args.plot:
        terminal_chart(rows, title)
    if args.save:
        args.save.write_text(svg_chart(rows, title))
        print(f"chart: {args.save}", file=sys.stderr)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cost`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "cost", help="each score's seconds per architecture against its Spearman with a truth (table, chart)",
        description="For every metric (and params/FLOPs): Spearman with the truth and its 95% bootstrap interval, "
                    "and the median seconds per architecture of its evaluator (CPU time where recorded, else wall), "
                    "cheapest first; --plot draws it in the terminal, --save writes an SVG chart.")
    p.add_argument("db", type=Path, help="results file")
    p.add_argument("--run", type=int, help="run id (default: the latest)")
    p.add_argument("--join", type=Path, action="append", default=[], metavar="DB",
                   help="join another results file's evaluator columns (and costs) by architecture id (repeatable)")
    p.add_argument("--truth", required=True, help="truth table subset, e.g. nb201:cifar10, or a column")
    p.add_argument("--metrics", metavar="COLS",
                   help="these columns (comma-separated; default: each evaluator's score, its first headline metric, "
                        "and params, flops)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples (default 0)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--plot", action="store_true", help="table format: also draw the chart in the terminal")
    p.add_argument("--save", type=Path, metavar="FILE.svg", help="write the chart as an SVG image")
    p.set_defaults(func=run)
