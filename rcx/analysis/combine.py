"""``rcx analyze combine``: does a rank average of several scores rank better than each alone?

Choosing a combination and reporting it on the same architectures flatters it, so the
architectures usable in the truth and in every candidate metric are split at random (seeded)
into a *selection* part and a *report* part (``holdout``, default half). On the selection part,
every combination of 2 to ``max_size`` candidate metrics is scored by the Spearman correlation
of its rank average with the truth (each member oriented so that higher is better, ranks
averaged over ties, members weighted equally); the best one is chosen there (ties: fewer
members, then names). On the report part, which the choice never saw, the chosen combination,
the rank average of every proxy (fixed in advance, not chosen), each single metric and the
baselines are scored with the leaderboard's statistics (:func:`rcx.analysis.proxies.proxy_row`),
each with the paired bootstrap difference of its Spearman from ``params``'s.
"""

from __future__ import annotations

import argparse
import itertools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rcx.analysis.common import (
    AnalysisError,
    ColumnValues,
    add_common_arguments,
    column_values,
    emit,
    excluded_note,
    fmt_r,
    load_table,
    usable_rows,
)
from rcx.analysis.corr import MIN_N
from rcx.analysis.proxies import (
    COLUMNS,
    ProxiesReport,
    ProxyRow,
    _log_params,
    _pm,
    add_statistics_arguments,
    candidate_metrics,
    one_n_arch,
    proxy_row,
    table_rows,
)
from rcx.analysis.truth import resolve_names

if TYPE_CHECKING:
    import numpy as np


def rank_average(oriented: np.ndarray) -> np.ndarray:
    """(n,) mean over the columns of ``oriented`` (n, m) of each column's ranks (1-based, ties
    averaged): the combined score, higher is better when every column is."""
    from scipy.stats import rankdata

    return rankdata(oriented, axis=0).mean(axis=1)


def _spearman(x: np.ndarray, t_ranks: np.ndarray) -> float:
    from scipy.stats import rankdata

    rx = rankdata(x) - (len(x) + 1) / 2
    rt = t_ranks - (len(x) + 1) / 2
    den = math.sqrt(float(rx @ rx) * float(rt @ rt))
    return float(rx @ rt) / den if den > 0 else math.nan


def score_columns(table) -> list[str]:
    """Each evaluator instance's score: its first headline metric (``naswot.score``,
    ``cvu.cv_u``, ``ridge_rfm.val_acc``), where its direction is declared."""
    out = []
    for inst in table.evaluators:
        head = table.headline.get(inst, ())
        if head and f"{inst}.{head[0]}" in table.higher_is_better:
            out.append(f"{inst}.{head[0]}")
    return out


def chosen_candidates(table, truth: str, metrics: Sequence[str] | None) -> list[tuple[str, str, bool]]:
    """``(column, kind, higher_is_better)`` of the columns an analysis combines: ``metrics`` when
    given (each must have a declared direction), else each evaluator's score and the baselines."""
    candidates, _ = candidate_metrics(table, truth)
    if metrics is None:
        scores = set(score_columns(table))
        return [c for c in candidates if c[1] == "baseline" or c[0] in scores]
    wanted = {column_values(table, m, require_done=False).name for m in metrics}
    unknown = wanted - {c[0] for c in candidates}
    if unknown:
        raise AnalysisError(f"{', '.join(sorted(unknown))}: not a metric with a declared direction")
    return [c for c in candidates if c[0] in wanted]


def combination_name(members: Sequence[str]) -> str:
    """``rank-avg(a + b)``: the name of a combination's row."""
    return f"rank-avg({' + '.join(members)})"


@dataclass
class CombineReport:
    """``selection``: every combination tried, ``(members, Spearman on the selection part)``,
    best first; ``chosen``: its first entry's members; ``report``: the leaderboard on the
    report part (its rows are the chosen combination, the all-scores average, each metric);
    ``selection_index``/``report_index``: the parts as row indices into the table, ascending."""

    n_common: int
    excluded: dict[str, int]
    n_selection: int
    n_report: int
    holdout: float
    max_size: int
    selection: list[tuple[tuple[str, ...], float]]
    chosen: tuple[str, ...]
    report: ProxiesReport
    selection_index: np.ndarray
    report_index: np.ndarray
    dropped: dict[str, str] = field(default_factory=dict)


def combine_report(table, truth: str, *, metrics: Sequence[str] | None = None, max_size: int = 3,
                   holdout: float = 0.5, boot: int = 1000, seed: int = 0, top_fraction: float = 0.1,
                   n_arch: int = 100, runs: int = 500) -> CombineReport:
    """Choose a rank-average combination on one part of the architectures and report every
    candidate on the other; see the module docstring."""
    import numpy as np

    if not 0 < holdout < 1:
        raise AnalysisError(f"--holdout must be in (0, 1), not {holdout}")
    if max_size < 2:
        raise AnalysisError(f"--max-size must be at least 2, not {max_size}")
    tc = column_values(table, truth, require_done=False)
    truth_higher = table.higher_is_better.get(tc.name, True)
    candidates = chosen_candidates(table, tc.name, metrics)
    columns = {name: column_values(table, name, require_done=(kind == "proxy")) for name, kind, _ in candidates}
    mask, excluded = usable_rows([tc, *columns.values()])
    n = int(mask.sum())
    if n < 2 * MIN_N:
        raise AnalysisError(f"only {n} architectures have the truth and every metric"
                            + (f"; {excluded_note(excluded)}" if excluded else "")
                            + " (restrict the candidates with --metrics)")
    dropped = {}
    kept = []
    for name, kind, higher in candidates:
        if np.ptp(columns[name].values[mask]) == 0:
            dropped[name] = "constant"
        else:
            kept.append((name, kind, higher))
    proxies = [name for name, kind, _ in kept if kind == "proxy"]
    if len(kept) < 2:
        raise AnalysisError("a combination needs at least two non-constant metrics")

    rows = np.flatnonzero(mask)
    perm = np.random.default_rng([seed, zlib.crc32(b"combine")]).permutation(rows)
    n_report = max(MIN_N, min(n - MIN_N, round(holdout * n)))
    report_rows, selection_rows = np.sort(perm[:n_report]), np.sort(perm[n_report:])
    oriented = {name: (1.0 if higher else -1.0) * columns[name].values for name, _, higher in kept}
    t_oriented = tc.values if truth_higher else -tc.values

    from scipy.stats import rankdata

    sel = np.stack([rankdata(oriented[name][selection_rows]) for name, _, _ in kept], axis=1)  # (n_sel, m)
    t_ranks = rankdata(t_oriented[selection_rows])
    names = [name for name, _, _ in kept]
    tried = []
    for size in range(2, min(max_size, len(names)) + 1):
        for combo in itertools.combinations(range(len(names)), size):
            rho = _spearman(sel[:, combo].mean(axis=1), t_ranks)
            tried.append((tuple(names[i] for i in combo), rho))
    tried.sort(key=lambda c: (-c[1] if math.isfinite(c[1]) else math.inf, len(c[0]), c[0]))
    chosen = tried[0][0]

    def part(values: np.ndarray, name: str) -> ColumnValues:
        return ColumnValues(name, values[report_rows], [None] * len(report_rows))

    def combined(members: Sequence[str]) -> ColumnValues:
        stacked = np.stack([oriented[m][report_rows] for m in members], axis=1)
        return ColumnValues(combination_name(members), rank_average(stacked), [None] * len(report_rows))

    truth_part = part(tc.values, tc.name)
    log_params = _log_params(table)
    log_params_part = part(log_params.values, log_params.name) if log_params is not None else None
    params_part = part(columns["params"].values, "params") if "params" in columns and "params" not in dropped else None
    lineup: list[tuple[ColumnValues, str, bool, str]] = [
        (combined(chosen), "combination", True, f"chosen on the selection part (Spearman {fmt_r(tried[0][1])} there)")]
    if len(proxies) > 1 and tuple(proxies) != chosen:
        every = combined(proxies)
        lineup.append((ColumnValues(f"rank-avg(all {len(proxies)} scores)", every.values, every.reasons), "combination",
                       True, "every score, fixed in advance"))
    lineup += [(part(columns[name].values, name), kind, higher, "") for name, kind, higher in kept]
    out_rows = []
    for values, kind, higher, note in lineup:
        row = proxy_row(values, kind, higher, truth_part, truth_higher, log_params_part, baseline=params_part,
                        boot=boot, seed=seed, top_fraction=top_fraction, n_arch=n_arch, runs=runs)
        notes = [n for n in (note, row.note) if n]
        out_rows.append(ProxyRow(**{**row.__dict__, "note": "; ".join(notes)}))
    out_rows.sort(key=lambda r: (not math.isfinite(r.spearman), -r.spearman if math.isfinite(r.spearman) else 0))

    t_all = tc.values[report_rows]
    report = ProxiesReport(tc.name, truth_higher, len(table.rows), len(report_rows), {}, boot, seed, top_fraction,
                           n_arch, runs, rows=out_rows, left_out=dict(dropped))
    report.random = (float(t_all.mean()), float(t_all.std()))
    return CombineReport(n, excluded, len(selection_rows), len(report_rows), holdout, max_size, tried, chosen,
                         report, selection_rows, report_rows, dropped)


# -- command ------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze combine`` command."""
    from rcx.exits import EXIT_OK, EXIT_USAGE, error

    try:
        table, run_id = load_table(args.db, args.run, args.csv, args.join)
        names = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
        table, (truth,) = resolve_names(table, [args.truth])
        result = combine_report(table, truth, metrics=names, max_size=args.max_size, holdout=args.holdout,
                                boot=args.boot, seed=args.seed, top_fraction=args.top_fraction,
                                n_arch=one_n_arch(args.n_arch), runs=args.runs)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    report = result.report
    rows = [{k: getattr(r, k) for k in COLUMNS} for r in report.rows]
    best = [{"members": list(m), "selection_spearman": rho} for m, rho in result.selection[:10]]
    meta = {"db": str(args.db), "joined": [str(p) for p in args.join], "run": run_id, "truth": report.truth,
            "common": result.n_common, "excluded": result.excluded, "selection": result.n_selection,
            "report": result.n_report, "holdout": result.holdout, "max_size": result.max_size,
            "combinations_tried": len(result.selection), "chosen": list(result.chosen), "best_on_selection": best,
            "boot": report.boot, "seed": report.seed, "top_fraction": report.top_fraction, "n_arch": report.n_arch,
            "runs": report.runs, "random_mean": report.random[0], "random_std": report.random[1],
            "dropped": result.dropped}
    title = f"rank-average combinations against {report.truth} (run {run_id}), on the report part"
    top = "; ".join(f"{' + '.join(m)} {fmt_r(rho)}" for m, rho in result.selection[:3])
    note = (f"{result.n_common} architectures have the truth and every metric"
            + (f" ({excluded_note(result.excluded)})" if result.excluded else "")
            + f"; split at random (seed {report.seed}) into {result.n_selection} to choose on and {result.n_report} "
            f"to report on. {len(result.selection)} combinations of 2-{result.max_size} metrics tried on the selection "
            f"part, best there: {top}. vs params: paired bootstrap difference of Spearman from params's "
            f"(B={report.boot}); random on the report part {_pm(*report.random)}")
    if result.dropped:
        note += "\nleft out: " + ", ".join(f"{c} ({why})" for c, why in result.dropped.items())
    heads, shown = table_rows(report)
    if args.format != "table":
        emit(args.format, COLUMNS, rows, title=title, meta=meta, note=note)
    else:
        emit("table", heads, shown, title=title, meta=meta, note=note)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``combine`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "combine",
        help="rank averages of several metrics, chosen on one half of the architectures, reported on the other",
        description="Split the architectures that have the truth and every metric at random into a selection and a "
                    "report part; choose the rank average of 2..max-size metrics with the best Spearman on the "
                    "selection part; report it, the average of every proxy and each metric alone on the report part "
                    "with the statistics of 'rcx analyze proxies' and the difference from params.")
    add_common_arguments(p)
    p.add_argument("--truth", required=True,
                   help="truth table subset, e.g. nb201:cifar10, or a column (trained.val_acc)")
    p.add_argument("--metrics", metavar="COLS",
                   help="candidate columns (comma-separated; default: each evaluator's score, i.e. its first headline "
                        "metric, and params, flops)")
    p.add_argument("--max-size", type=int, default=3, help="most metrics in one combination (default 3)")
    p.add_argument("--holdout", type=float, default=0.5, help="fraction of the architectures reported on (default 0.5)")
    add_statistics_arguments(p)
    p.set_defaults(func=run)
