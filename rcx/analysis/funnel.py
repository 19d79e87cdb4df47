"""``rcx analyze funnel``: what a second, dearer score adds on top of a cheap one.

A two-stage funnel scores N_a architectures with a cheap score (``--first``, e.g.
``naswot.score``), runs a dearer one (``--second``, e.g. ``short.val_acc``: a short training)
on the first score's best ``--top`` only, and picks the best of those by the second score. From
one results file that holds both (the second on enough of the first's best; a staged plan such
as ``examples/nb201_funnel_train.toml``), this analysis draws N_a architectures ``--runs``
times (seeded) and reports the truth of five picks per draw:

- ``funnel``: the second score's best among the first score's top k;
- ``first``: the first score's best alone;
- ``params``: the largest network (the trivial baseline; FLOPs rank NAS-Bench-201 the same);
- ``ceiling``: the best truth among the first score's top k, the pick of a perfect second
  score: no second stage on this first stage and k can pick better;
- ``optimum``: the best truth among the same N_a.

Each row: mean and std of the pick's truth over the draws, the paired difference from the
funnel with a 95 % percentile bootstrap interval over the draws (an interval above 0 in the
funnel's favour: ``funnel - row``), and the total cost of a pick in core-seconds (N_a times
the first evaluator's median CPU seconds per architecture, plus k times the second's, none at
k = 1; params cost nothing; ``rcx analyze cost`` says how they are measured, and old results files fall
back to wall time x threads, which the note names). A draw whose top k holds an architecture
without the second score uses the others; ``covered`` counts the draws whose whole top k was
scored (at k = 1, which needs no second score, every draw). A second score with no value at
all (its stage has not run yet) is an error, not a funnel that silently repeats the first
score's pick.

``--top 1,3,5,10`` (several k) answers "how many to train": one row per k, on the same draws,
with the funnel's pick against the first score's and the largest network's (paired intervals),
the ceiling and the cost of a pick. k = 1 is the first score alone. ``--plot`` draws the gain
over the largest network (y, with its interval) against the core-seconds per pick (x, log
scale) in the terminal, ``--save FILE.svg`` or ``FILE.png`` as an image
(:mod:`rcx.analysis.chart`).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcx.analysis.common import AnalysisError, column_values, emit, load_table

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np

    from rcx.analysis.chart import Point

COLUMNS = ("method", "mean", "std", "funnel_minus", "funnel_minus_lo", "funnel_minus_hi", "core_seconds")
SWEEP_COLUMNS = ("top", "mean", "std", "minus_first", "minus_first_lo", "minus_first_hi", "minus_params",
                 "minus_params_lo", "minus_params_hi", "ceiling", "core_seconds", "covered")


@dataclass
class Picks:
    """Per draw (arrays of length ``runs``): the truth of each method's pick; ``covered``: the
    draw's whole top k had the second score; ``scored``: how many of it had."""

    funnel: np.ndarray
    first: np.ndarray
    params: np.ndarray
    ceiling: np.ndarray
    optimum: np.ndarray
    covered: np.ndarray
    scored: np.ndarray


def draws(first: np.ndarray, *, n_arch: int, runs: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The funnel's draws: per draw, ``n_arch`` distinct indices into ``first`` (higher is
    better) from ``default_rng(seed)``, and the same indices ordered best first (ties kept in
    draw order). ``studies/funnel_cells.py`` lists the cells a stage's top k needs from them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(runs):
        idx = rng.choice(len(first), n_arch, replace=False)
        yield idx, idx[np.argsort(-first[idx], kind="stable")]


def funnel_picks(first: np.ndarray, second: np.ndarray, truth: np.ndarray, params: np.ndarray, *, n_arch: int,
                 top: int, runs: int, seed: int) -> Picks:
    """Simulate the funnel on aligned arrays (one entry per architecture; scores oriented so
    that higher is better; ``second`` NaN where not scored; ``first``/``truth``/``params``
    finite). Each draw takes ``n_arch`` distinct architectures with ``default_rng(seed)``."""
    import numpy as np

    n = len(truth)
    if not 1 <= top <= n_arch <= n:
        raise AnalysisError(f"need 1 <= --top ({top}) <= --n-arch ({n_arch}) <= usable architectures ({n})")
    out = {k: np.empty(runs) for k in ("funnel", "first", "params", "ceiling", "optimum")}
    covered, scored = np.zeros(runs, dtype=bool), np.zeros(runs, dtype=int)
    for r, (idx, by_first) in enumerate(draws(first, n_arch=n_arch, runs=runs, seed=seed)):
        head = by_first[:top]
        have = head[np.isfinite(second[head])]
        # At k = 1 the pick is the first score's: no second score is needed, so every draw counts.
        scored[r], covered[r] = len(have), top == 1 or len(have) == top
        pick = have[np.argmax(second[have])] if len(have) else head[0]
        out["funnel"][r] = truth[pick]
        out["first"][r] = truth[by_first[0]]
        out["params"][r] = truth[idx[np.argmax(params[idx])]]
        out["ceiling"][r] = truth[head].max()
        out["optimum"][r] = truth[idx].max()
    return Picks(**out, covered=covered, scored=scored)


def paired_interval(a: np.ndarray, b: np.ndarray, boot: int, seed: int) -> tuple[float, float, float]:
    """Mean of ``a - b`` with its 95 % percentile bootstrap interval over the draws."""
    import numpy as np

    d = a - b
    if boot <= 0 or len(d) < 2:
        return float(d.mean()), math.nan, math.nan
    rng = np.random.default_rng([seed, 20])
    means = d[rng.integers(0, len(d), (boot, len(d)))].mean(axis=1)
    return float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _oriented(table: Any, name: str, require_done: bool) -> tuple[str, np.ndarray]:
    cv = column_values(table, name, require_done=require_done)
    higher = table.higher_is_better.get(cv.name, True)
    return cv.name, cv.values if higher else -cv.values


def score_instances(name: str) -> set[str]:
    """The evaluator instances a score reads: ``naswot.score`` -> ``{"naswot"}``; a rank average
    ``rankavg(naswot.score,short.train_loss,params)`` -> ``{"naswot", "short"}`` (a baseline
    such as params, a column without an instance, costs nothing)."""
    from rcx.core.scores import parse_score

    return {c.split(".", 1)[0] for c in parse_score(name) if "." in c and not c.startswith("truth.")}


def score_cost(costs: dict[str, tuple[float, str]], instances: set[str]) -> tuple[float, str]:
    """Median core-seconds per architecture of computing ``instances`` (summed; 0 for none) and
    how each was measured; NaN when one has no recorded cost."""
    parts = [costs.get(i, (math.nan, "unknown")) for i in sorted(instances)]
    how = sorted({h for _, h in parts})
    return (float(sum(c for c, _ in parts)), ", ".join(how)) if parts else (0.0, "nothing new to compute")


def funnel_cost(n_arch: int, top: int, cost_first: float, cost_second: float) -> float:
    """Core-seconds of one funnel pick: the first score on ``n_arch``, the second on the top
    ``top`` (none at k = 1, where the funnel's pick is the first score's)."""
    return n_arch * cost_first + (top * cost_second if top > 1 else 0.0)


def instances_text(instances: set[str]) -> str:
    """``naswot`` / ``a + b`` / ``nothing`` for the cost note."""
    return " + ".join(sorted(instances)) or "nothing"


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze funnel`` command."""
    import numpy as np

    from rcx.analysis.cost import evaluation_costs
    from rcx.analysis.truth import resolve_names
    from rcx.exits import EXIT_OK, EXIT_USAGE, error
    from rcx.termtable import format_value

    try:
        table, run_id = load_table(args.db, args.run, (), args.join)
        table, (truth_name,) = resolve_names(table, [args.truth])
        f_name, first = _oriented(table, args.first, True)
        s_name, second = _oriented(table, args.second, True)
        t_name, truth = _oriented(table, truth_name, False)
        if "params" not in table.columns:
            raise AnalysisError("the results have no params column")
        params = column_values(table, "params", require_done=False).values
        ok = np.isfinite(first) & np.isfinite(truth) & np.isfinite(params)
        if not np.isfinite(second[ok]).any():
            raise AnalysisError(f"{s_name} has no value on the {int(ok.sum())} architectures with {f_name} and "
                                f"{t_name}: the second stage has not run yet (or --second names another column)")
        sweep = {k: funnel_picks(first[ok], second[ok], truth[ok], params[ok], n_arch=args.n_arch, top=k,
                                 runs=args.runs, seed=args.seed) for k in args.top}
        costs = evaluation_costs([args.db, *args.join], args.run)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    first_uses = score_instances(f_name)
    (cost_first, how_first), (cost_second, how_second) = (
        score_cost(costs, first_uses), score_cost(costs, score_instances(s_name) - first_uses))
    cost_note = (f"core_seconds per pick: N_a x median core-seconds of {instances_text(first_uses)} "
                 f"({format_value(cost_first)}, {how_first}) + k x "
                 f"{instances_text(score_instances(s_name) - first_uses)} ({format_value(cost_second)}, "
                 f"{how_second}; cpu: measured CPU time, wall xN: an old results file's wall time x threads)")
    title = (f"funnel against single picks, truth {t_name} (run {run_id}): {args.runs} draws of {args.n_arch} "
             f"of {int(ok.sum())} architectures")
    meta = {"db": str(args.db), "run": run_id, "first": f_name, "second": s_name, "truth": t_name,
            "n_arch": args.n_arch, "top": args.top[0] if len(args.top) == 1 else list(args.top), "runs": args.runs,
            "seed": args.seed, "boot": args.boot}
    if len(args.top) > 1:
        return _emit_sweep(args, sweep, title + f", the second score on the top k of {f_name}", meta,
                           cost_first, cost_second, cost_note)
    if args.plot or args.save:
        error("--plot and --save draw one point per k: give several, e.g. --top 1,2,3,5,10")
        return EXIT_USAGE
    (top, picks), = sweep.items()
    seconds = {"funnel": funnel_cost(args.n_arch, top, cost_first, cost_second), "first": args.n_arch * cost_first,
               "params": 0.0, "ceiling": math.nan, "optimum": math.nan}
    rows = []
    for method in ("funnel", "first", "params", "ceiling", "optimum"):
        values = getattr(picks, method)
        diff = (math.nan,) * 3 if method == "funnel" else paired_interval(picks.funnel, values, args.boot, args.seed)
        rows.append({"method": method, "mean": float(values.mean()), "std": float(values.std()),
                     "funnel_minus": diff[0], "funnel_minus_lo": diff[1], "funnel_minus_hi": diff[2],
                     "core_seconds": seconds[method]})
    labels = {"funnel": f"funnel: {s_name} on the top {top} of {f_name}", "first": f"best {f_name}",
              "params": "best params", "ceiling": f"ceiling: the best truth in the top {top} of {f_name}",
              "optimum": "optimum (the truth)"}
    shown = [{"method": labels[r["method"]], "mean": format_value(r["mean"]), "std": format_value(r["std"]),
              "funnel_minus": "" if r["method"] == "funnel" else
              f"{r['funnel_minus']:+.3f} [{r['funnel_minus_lo']:+.3f}, {r['funnel_minus_hi']:+.3f}]",
              "core_seconds": format_value(r["core_seconds"]) if math.isfinite(r["core_seconds"]) else ""}
             for r in rows]
    note = (f"funnel_minus: mean paired difference funnel - method over the draws with a 95% bootstrap interval "
            f"(B={args.boot}); {cost_note}; "
            f"{int(picks.covered.sum())} of {args.runs} draws had the second score on their whole top {top}")
    emit(args.format, COLUMNS, rows, title=title, meta=meta | {"covered": int(picks.covered.sum())}, note=note,
         table_rows=shown if args.format == "table" else None)
    return EXIT_OK


def _emit_sweep(args: argparse.Namespace, sweep: dict[int, Picks], title: str, meta: dict[str, Any],
                cost_first: float, cost_second: float, cost_note: str) -> int:
    """One row per k of ``--top``: the funnel's pick, its paired differences from the first
    score's and the largest network's picks, the ceiling and the cost of a pick."""
    from rcx.exits import EXIT_OK
    from rcx.termtable import format_value

    rows = []
    for k, picks in sweep.items():
        vs_first = paired_interval(picks.funnel, picks.first, args.boot, args.seed)
        vs_params = paired_interval(picks.funnel, picks.params, args.boot, args.seed)
        rows.append({"top": k, "mean": float(picks.funnel.mean()), "std": float(picks.funnel.std()),
                     "minus_first": vs_first[0], "minus_first_lo": vs_first[1], "minus_first_hi": vs_first[2],
                     "minus_params": vs_params[0], "minus_params_lo": vs_params[1], "minus_params_hi": vs_params[2],
                     "ceiling": float(picks.ceiling.mean()),
                     "core_seconds": funnel_cost(args.n_arch, k, cost_first, cost_second),
                     "covered": int(picks.covered.sum())})

    def interval(r: dict[str, Any], name: str) -> str:
        return f"{r[name]:+.3f} [{r[name + '_lo']:+.3f}, {r[name + '_hi']:+.3f}]"

    shown = [{"top": str(r["top"]), "mean": format_value(r["mean"]), "std": format_value(r["std"]),
              "minus_first": interval(r, "minus_first"), "minus_params": interval(r, "minus_params"),
              "ceiling": format_value(r["ceiling"]),
              "core_seconds": format_value(r["core_seconds"]) if math.isfinite(r["core_seconds"]) else "",
              "covered": f"{r['covered']}/{args.runs}"} for r in rows]
    first_pick, params_pick = (float(next(iter(sweep.values())).first.mean()),
                               float(next(iter(sweep.values())).params.mean()))
    note = (f"one row per k: the truth of the funnel's pick (mean, std over the draws); minus_first / minus_params: "
            f"mean paired difference from the first score's pick ({format_value(first_pick)}) and the largest "
            f"network's ({format_value(params_pick)}) with a 95% bootstrap interval (B={args.boot}); ceiling: the "
            f"best truth in the top k; {cost_note}; covered: draws with the second score on the whole top k")
    emit(args.format, SWEEP_COLUMNS, rows, title=title, meta=meta, note=note,
         table_rows=shown if args.format == "table" else None)
    points = sweep_points(rows)
    chart_title = f"{meta['second']} on the top k of {meta['first']}"
    if args.format == "table" and args.plot:
        import plotext as plt

        from rcx.analysis.chart import terminal

        text = terminal(points, chart_title, PLOT_X, PLOT_Y)
        print(text if sys.stdout.isatty() else plt.uncolorize(text))
    if args.save:
        from rcx.analysis.chart import save
        from rcx.exits import EXIT_USAGE, error

        try:
            save(points, args.save, chart_title, PLOT_X, PLOT_Y, y_span=(0.0, 0.0))  # zero: no gain
        except (ValueError, OSError) as exc:
            error(str(exc))
            return EXIT_USAGE
        print(f"chart: {args.save}", file=sys.stderr)
    return EXIT_OK


PLOT_X = "core-seconds per pick"
PLOT_Y = "gain over the largest net"


def sweep_points(rows: list[dict[str, Any]]) -> list[Point]:
    """One chart point per k: x the core-seconds per pick, y the paired gain over the largest
    network with its interval; k = 1 (the first score alone, no second stage) drawn muted."""
    from rcx.analysis.chart import Point

    return [Point(f"top {r['top']}" if r["top"] > 1 else "first score alone", r["core_seconds"], r["minus_params"],
                  r["minus_params_lo"], r["minus_params_hi"], muted=r["top"] == 1) for r in rows]


def _tops(text: str) -> tuple[int, ...]:
    """``--top``: ``10`` or ``1,3,5,10`` (each k at least 1, each once, in the order given)."""
    try:
        ks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give k or k1,k2,... (whole numbers)") from None
    if any(k < 1 for k in ks) or len(set(ks)) != len(ks):
        raise argparse.ArgumentTypeError(f"{text!r}: each k at least 1, each once")
    return ks


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``funnel`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "funnel", help="a two-stage funnel's pick (cheap score, then a dearer one on its top k) against single picks",
        description="Draw N_a architectures --runs times; per draw pick the best of the first score's top k by the "
                    "second score, and compare its truth with the best first score alone, the largest network, "
                    "the best of the top k (a perfect second score) and the optimum: mean, std, paired "
                    "differences with bootstrap intervals, core-seconds per pick.")
    p.add_argument("db", type=Path, help="results file")
    p.add_argument("--run", type=int, help="run id (default: the latest)")
    p.add_argument("--join", type=Path, action="append", default=[], metavar="DB",
                   help="join another results file's evaluator columns by architecture id (repeatable)")
    p.add_argument("--first", required=True, help="the cheap score, e.g. naswot.score")
    p.add_argument("--second", required=True, help="the dearer score run on the first's top k, e.g. short.val_acc")
    p.add_argument("--truth", required=True, help="truth table subset, e.g. nb201:cifar10, or a column")
    p.add_argument("--n-arch", type=int, default=100, help="architectures per draw (default 100)")
    p.add_argument("--top", type=_tops, default=(10,), metavar="K[,K...]",
                   help="k: how many of the first score's best get the second (default 10); several, e.g. "
                        "1,3,5,10: one row per k on the same draws")
    p.add_argument("--runs", type=int, default=20, help="draws (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and resamples (default 0)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples of the draws (default 1000)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--plot", action="store_true",
                   help="with several --top: also draw the gain over the largest network against the cost per pick")
    p.add_argument("--save", type=Path, metavar="FILE.svg|FILE.png",
                   help="with several --top: write that chart as an image (SVG or PNG, by the file's suffix)")
    p.set_defaults(func=run)
