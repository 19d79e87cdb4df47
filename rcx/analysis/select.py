"""``rcx analyze select``: the selection experiment of seed 002 (Algorithm 2, Table 2).

For each N_a: ``runs`` times, draw N_a distinct architectures uniformly at random (seeded),
pick the best one by the score, and record the truth (e.g. trained accuracy) of the pick.
Reported next to two baselines: ``optimal`` (the best truth in each draw) and ``random`` (a
uniformly random usable architecture: the mean and std of the truth over all of them).
Ties in the score are broken by the random draw order, i.e. uniformly at random.
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcx.analysis.common import (
    AnalysisError,
    add_common_arguments,
    column_values,
    emit,
    excluded_note,
    fmt_p,
    fmt_r,
    join_csv,
    load_table,
    parse_int_list,
    usable_rows,
)
from rcx.analysis.truth import resolve_names

if TYPE_CHECKING:
    import numpy as np


def draw_subsets(n_pool: int, n_arch: int, runs: int, rng: np.random.Generator) -> np.ndarray:
    """(runs, n_arch) indices into a pool of ``n_pool``: each row ``n_arch`` distinct indices
    drawn uniformly, in uniformly random order (the order breaks score ties).

    One ``Generator.choice`` per run: it samples without building a permutation of the pool
    (Floyd's method), so 500 draws from 15,625 take milliseconds, where random sort keys for the
    whole pool took 0.2 s per N_a.
    """
    import numpy as np

    if not 1 <= n_arch <= n_pool:
        raise ValueError(f"cannot draw {n_arch} of {n_pool}")
    return np.stack([rng.choice(n_pool, n_arch, replace=False, shuffle=True) for _ in range(runs)]).astype(np.int64)


@dataclass(frozen=True)
class Picks:
    """Per run (runs,): the truth of the architecture the score picked, and the best and worst
    truth in the draw."""

    picked: np.ndarray
    best: np.ndarray
    worst: np.ndarray


def simulate(score: np.ndarray, truth: np.ndarray, n_arch: int, runs: int, rng: np.random.Generator,
             higher_is_better: bool, truth_higher_is_better: bool = True) -> Picks:
    """Run the selection ``runs`` times on a pool of finite ``score`` and ``truth`` (n_pool,)."""
    import numpy as np

    idx = draw_subsets(len(score), n_arch, runs, rng)  # (runs, n_arch)
    s, t = score[idx], truth[idx]
    pick = s.argmax(axis=1) if higher_is_better else s.argmin(axis=1)  # first of tied scores in draw order
    picked = t[np.arange(runs), pick]
    hi, lo = t.max(axis=1), t.min(axis=1)
    return Picks(picked, hi, lo) if truth_higher_is_better else Picks(picked, lo, hi)


@dataclass(frozen=True)
class SelectionRow:
    """One line of the Table-2 layout. ``mean``/``std`` (population) of the truth over runs
    (for ``random``: over all usable architectures, ``n_arch``/``runs`` None); ``optimal_rate``:
    fraction of runs whose pick has the draw's best truth; ``p_vs_random``: Welch's two-sample
    t-test of the picks against all usable truths."""

    method: str
    n_arch: int | None
    runs: int | None
    mean: float
    std: float
    optimal_rate: float | None = None
    p_vs_random: float | None = None


@dataclass
class SelectionReport:
    """Everything ``rcx analyze select`` shows, rows in the order of seed 002's Table 2:
    optimal per N_a, random, then the score per N_a."""

    score: str
    truth: str
    higher_is_better: bool
    n_rows: int
    n_usable: int
    excluded: dict[str, int]
    runs: int
    seed: int
    rows: list[SelectionRow] = field(default_factory=list)


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np
    from scipy import stats

    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def selection_rows(score: np.ndarray, truth: np.ndarray, n_arch: Sequence[int], runs: int, seed: int,
                   higher_is_better: bool, truth_higher_is_better: bool = True,
                   label: str = "score") -> list[SelectionRow]:
    """The Table-2 rows for a pool of finite ``score`` and ``truth`` (n_pool,). Each N_a draws
    from its own stream seeded by ``(seed, N_a)``, so a row does not depend on the other N_a."""
    import numpy as np

    too_many = [n for n in n_arch if n > len(score)]
    if too_many:
        raise AnalysisError(f"N_a = {max(too_many)} is larger than the {len(score)} usable architectures")
    picks = {n: simulate(score, truth, n, runs, np.random.default_rng([seed, n]), higher_is_better,
                         truth_higher_is_better) for n in n_arch}
    rows = [SelectionRow("optimal", n, runs, float(p.best.mean()), float(p.best.std())) for n, p in picks.items()]
    rows.append(SelectionRow("random", None, None, float(truth.mean()), float(truth.std())))
    for n, p in picks.items():
        rows.append(SelectionRow(label, n, runs, float(p.picked.mean()), float(p.picked.std()),
                                 float(np.mean(p.picked == p.best)), _welch_p(p.picked, truth)))
    return rows


def selection_report(table, score: str, truth: str, n_arch: Sequence[int], runs: int = 500, seed: int = 0,
                     higher_is_better: bool | None = None) -> SelectionReport:
    """Run the experiment on a :class:`~rcx.core.results.ResultsTable`. Usable architectures have
    a finite score whose evaluation is done (so ``degenerate`` CV_U rows drop out) and a finite
    truth. ``higher_is_better`` None takes the score's declared direction."""
    sc = column_values(table, score)
    tc = column_values(table, truth, require_done=False)
    if sc.name == tc.name:
        raise AnalysisError(f"the score and the truth are the same column ({sc.name})")
    if higher_is_better is None:
        higher_is_better = table.higher_is_better.get(sc.name)
        if higher_is_better is None:
            raise AnalysisError(f"the direction of {sc.name!r} is not declared (a CSV or summary column): "
                                "pass --higher-is-better or --lower-is-better")
    if runs < 1:
        raise AnalysisError(f"--runs must be >= 1, not {runs}")
    mask, excluded = usable_rows([sc, tc])
    report = SelectionReport(sc.name, tc.name, higher_is_better, len(table.rows), int(mask.sum()), excluded, runs, seed)
    if not mask.any():
        raise AnalysisError(f"no architecture has both {sc.name} (status done) and {tc.name}; "
                            f"{excluded_note(excluded)}")
    too_many = [n for n in n_arch if n > report.n_usable]
    if too_many:
        raise AnalysisError(f"N_a = {max(too_many)} is larger than the {report.n_usable} usable architectures "
                            f"(finite {sc.name} with status done and finite {tc.name})"
                            + (f"; {excluded_note(excluded)}" if excluded else ""))
    report.rows = selection_rows(sc.values[mask], tc.values[mask], n_arch, runs, seed, higher_is_better,
                                 table.higher_is_better.get(tc.name, True), label=sc.name)
    return report


# -- command ------------------------------------------------------------------------------------
COLUMNS = ("method", "n_arch", "runs", "mean", "std", "optimal_rate", "p_vs_random")


def _truth_from_csv(table, path: Path, truth: str | None):
    """Join ``--truth-csv`` and name its truth column (``--truth`` picks one of several)."""
    table, names = join_csv(table, path)
    if truth is None:
        if len(names) > 1:
            raise AnalysisError(f"{path}: several value columns ({', '.join(names)}); say which with --truth")
        return table, names[0]
    if truth not in names:
        raise AnalysisError(f"--truth {truth!r} is not a column of {path} ({', '.join(names)})")
    return table, truth


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze select`` command."""
    from rcx.exits import EXIT_OK, EXIT_USAGE, error

    try:
        n_arch = parse_int_list(args.n_arch, "--n-arch")
        table, run_id = load_table(args.db, args.run, args.csv, args.join)
        truth = args.truth
        if args.truth_csv:
            table, truth = _truth_from_csv(table, args.truth_csv, truth)
        elif truth is None:
            raise AnalysisError("say where the truth comes from: --truth COLUMN or --truth-csv FILE, "
                                "or a truth table: --truth TABLE:SUBSET (e.g. nb201:cifar10)")
        table, (score, truth) = resolve_names(table, [args.score, truth])
        higher = True if args.higher_is_better else False if args.lower_is_better else None
        report = selection_report(table, score, truth, n_arch, args.runs, args.seed, higher)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    rows: list[dict[str, Any]] = [{k: getattr(r, k) for k in COLUMNS} for r in report.rows]
    table_rows = [{**r, "mean": fmt_r(r["mean"]), "std": fmt_r(r["std"]),
                   "optimal_rate": "" if r["optimal_rate"] is None else fmt_r(r["optimal_rate"]),
                   "p_vs_random": "" if r["p_vs_random"] is None else fmt_p(r["p_vs_random"]),
                   "n_arch": "" if r["n_arch"] is None else r["n_arch"], "runs": "" if r["runs"] is None else r["runs"]}
                  for r in rows]
    direction = "higher" if report.higher_is_better else "lower"
    meta = {"db": str(args.db), "run": run_id, "score": report.score, "truth": report.truth,
            "score_higher_is_better": report.higher_is_better, "runs": report.runs, "seed": report.seed,
            "candidates": report.n_rows, "usable": report.n_usable, "excluded": report.excluded}
    title = f"selection by {report.score} ({direction} is better), truth {report.truth}"
    note = (f"run {run_id}: {report.n_usable} of {report.n_rows} architectures usable, {report.runs} runs, "
            f"seed {report.seed}" + (f"; {excluded_note(report.excluded)}" if report.excluded else ""))
    emit(args.format, COLUMNS, rows, table_rows=table_rows, title=title, meta=meta, note=note)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``select`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "select", help="selection experiment: truth of the best-scored of N_a random architectures",
        description="For each N_a, draw N_a architectures at random (seeded) --runs times, pick the best by the "
                    "score, and report mean +- std of the truth of the pick next to the random and optimal "
                    "baselines (seed 002, Table 2).")
    add_common_arguments(p)
    p.add_argument("--score", required=True, help="column to select by, e.g. cvu.cv_u or params (a baseline: higher "
                                                  "is better), or a rank average of several, e.g. "
                                                  "synflow.score,jacov.score,flops (lower is better)")
    p.add_argument("--truth", help="column of the truth, e.g. trained.val_acc, or a truth table joined by architecture "
                                   "id, e.g. nb201:cifar10 (with --truth-csv: one of its columns)")
    p.add_argument("--truth-csv", type=Path, metavar="FILE",
                   help="the truth from a CSV 'arch,accuracy' joined by architecture id")
    p.add_argument("--n-arch", default="10,25,100", metavar="N,N,...", help="numbers of architectures drawn per run")
    p.add_argument("--runs", type=int, default=500, help="draws per N_a (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--higher-is-better", action="store_true", help="override the score's declared direction")
    order.add_argument("--lower-is-better", action="store_true", help="override the score's declared direction")
    p.set_defaults(func=run)
