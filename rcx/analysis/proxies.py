"""``rcx analyze proxies``: a leaderboard of every metric of a run against a truth.

Per metric (and the trivial baselines ``params`` and ``flops``, as ZiCo and Abdelfattah et al.
report them): ``n``, Spearman and Kendall's tau-b with percentile-bootstrap 95 % intervals,
Spearman partial to log(params) (does the proxy know anything that size does not?), the
top-fraction precision (share of the truly best 10 % that the metric's best 10 % catches) and
seed 002's selection figure (truth of the metric's pick among N_a random architectures, mean and
population std over ``runs`` draws, exactly as ``rcx analyze select`` draws them).

Every metric is oriented by its declared direction: a lower-is-better metric is negated, so
a good proxy has positive coefficients whichever way it points. The truth is oriented the same
way. Rows are sorted by Spearman, best first.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from rcx.analysis.common import (
    AnalysisError,
    ColumnValues,
    add_common_arguments,
    column_values,
    emit,
    excluded_note,
    fmt_r,
    load_table,
    parse_int_list,
    split_columns,
    usable_rows,
)
from rcx.analysis.corr import MIN_N
from rcx.analysis.select import simulate
from rcx.analysis.truth import is_truth_column, resolve_names

if TYPE_CHECKING:
    import numpy as np

BASELINES = ("params", "flops")
"""Architecture-summary columns ranked as trivial baselines (bigger is better)."""


# -- statistics ---------------------------------------------------------------------------------
def _levels(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, inverse, ends)``: a stable sort order of ``v`` (n,), each value's level (index
    among the distinct values, ascending), and the position in sorted order of each level's last
    value."""
    import numpy as np

    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    return np.argsort(inverse, kind="stable"), inverse, np.cumsum(counts) - 1


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Multiplicities (B, n) int64 of the original points in each resample of ``idx`` (B, n)."""
    import numpy as np

    b = idx.shape[0]
    return np.bincount((idx + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)


def _level_counts(counts: np.ndarray, order: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and distinct value (B, levels): how many drawn points are at or below the
    level, and how many are at it."""
    import numpy as np

    upto = np.cumsum(counts[:, order], axis=1)[:, ends]
    return upto, np.diff(upto, axis=1, prepend=0)


def _weighted_ranks(counts: np.ndarray, order: np.ndarray, inverse: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of every original point in resamples given by
    their multiplicities ``counts`` (B, n): (B, n) float64 (a point drawn 0 times gets the rank
    it would have had; its weight is 0)."""
    upto, per_level = _level_counts(counts, order, ends)
    return (upto - (per_level - 1) / 2)[:, inverse]


def bootstrap_spearman(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Spearman's rho of every resample ``(x[idx[b]], y[idx[b]])`` for ``idx`` (B, n): (B,)
    float64, NaN where a resample is constant in x or y.

    The resamples are never sorted: each is a multiplicity vector over the original points,
    and a point's rank in a resample follows from the multiplicities of the distinct values
    below it, so the cost is O(B n) after one sort of x and one of y.
    """
    import numpy as np

    n = len(x)
    counts = _counts(idx, n)
    rx = _weighted_ranks(counts, *_levels(x)) - (n + 1) / 2  # weighted mean rank is (n + 1) / 2
    ry = _weighted_ranks(counts, *_levels(y)) - (n + 1) / 2
    wx, wy = counts * rx, counts * ry
    sxy = np.einsum("bi,bi->b", wx, ry)
    sxx = np.einsum("bi,bi->b", wx, rx)
    syy = np.einsum("bi,bi->b", wy, ry)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = sxy / np.sqrt(sxx * syy)
    return np.where((sxx > 0) & (syy > 0), rho, np.nan)


DENSE_KENDALL_MAX_N = 2000
"""Up to this many points the Kendall bootstrap is one matrix product (memory n^2 float64);
above it, scipy per resample (O(n log n) each) is faster."""


def bootstrap_kendall(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of every resample ``(x[idx[b]], y[idx[b]])`` for ``idx`` (B, n): (B,)
    float64, NaN where a resample is constant in x or y.

    Up to :data:`DENSE_KENDALL_MAX_N` points: with multiplicities c (B, n) and the pair signs
    P_ij = sign(x_i - x_j) sign(y_i - y_j), the numerator of each resample is c^T P c / 2
    (copies of one point are tied in both and add nothing) and the tie counts come from the
    multiplicities per distinct value; one matrix product serves every resample.
    """
    import numpy as np

    n = len(x)
    if n > DENSE_KENDALL_MAX_N:
        return _kendall_per_resample(x, y, idx)
    counts = _counts(idx, n)
    pairs = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])  # (n, n)
    c = counts.astype(np.float64)
    numerator = 0.5 * np.einsum("bi,bi->b", c @ pairs, c)
    total = n * (n - 1) / 2
    tied = []
    for v in (x, y):
        order, _, ends = _levels(v)
        _, per_level = _level_counts(counts, order, ends)
        tied.append((per_level * (per_level - 1) / 2).sum(axis=1))
    den = (total - tied[0]) * (total - tied[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = numerator / np.sqrt(den)
    return np.where(den > 0, tau, np.nan)


def _kendall_per_resample(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    import numpy as np
    from scipy import stats

    out = np.full(idx.shape[0], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b, rows in enumerate(idx):
            out[b] = stats.kendalltau(x[rows], y[rows]).statistic
    return out


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of ``samples`` (B,), ignoring NaN resamples; NaN when
    fewer than half of the resamples are defined."""
    import numpy as np

    ok = samples[np.isfinite(samples)]
    if not len(ok) or 2 * len(ok) < len(samples):
        return math.nan, math.nan
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def resample_indices(n: int, boot: int, rng: np.random.Generator) -> np.ndarray:
    """(boot, n) indices of ``boot`` resamples of n points drawn with replacement."""
    return rng.integers(0, n, size=(boot, n))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else math.nan


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Spearman's rho of x and y partial to z: the Pearson partial correlation of the ranks,
    (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)). NaN when x or y is a function of z's
    ranks (r^2 = 1) or constant. Ranks ignore monotone transforms, so z = log(params) and
    z = params give the same value."""
    from scipy.stats import rankdata

    rx, ry, rz = rankdata(x), rankdata(y), rankdata(z)
    r_xy, r_xz, r_yz = _pearson(rx, ry), _pearson(rx, rz), _pearson(ry, rz)
    den = (1 - r_xz ** 2) * (1 - r_yz ** 2)
    if not den > 1e-12:
        return math.nan
    return (r_xy - r_xz * r_yz) / math.sqrt(den)


def top_k(n: int, fraction: float) -> int:
    """How many architectures the best ``fraction`` of ``n`` holds: ceil(fraction n), at least 1."""
    return max(1, min(n, math.ceil(fraction * n - 1e-9)))


def top_inclusion(values: np.ndarray, k: int) -> np.ndarray:
    """(n,) probability that each value is among the ``k`` highest when ties are broken
    uniformly at random: 1 above the k-th value, 0 below, and the remaining places shared
    among the values tied with it."""
    import numpy as np

    threshold = np.sort(values)[-k]
    above = values > threshold
    at = values == threshold
    p = above.astype(np.float64)
    p[at] = (k - above.sum()) / at.sum()
    return p


def top_precision(score: np.ndarray, truth: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the truly best ``fraction`` (by ``truth``, higher is better) that the best
    ``fraction`` by ``score`` (higher is better) holds, in expectation over random tie breaks
    in both: a constant score gets k/n, the chance level."""
    k = top_k(len(score), fraction)
    return float(top_inclusion(score, k) @ top_inclusion(truth, k) / k)


# -- the leaderboard ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProxyRow:
    """One metric against the truth. Coefficients are of the oriented metric (negated when
    lower is better); ``*_lo``/``*_hi`` bound the 95 % percentile bootstrap interval;
    ``select_mean``/``select_std`` are in the truth's unit; ``vs_params``: Spearman minus
    ``params``'s Spearman over the same architectures, its interval from the same (paired)
    resamples, so an interval above 0 says the metric ranks better than size alone."""

    metric: str
    kind: str  # "proxy" or "baseline"
    higher_is_better: bool
    n: int
    spearman: float = math.nan
    spearman_lo: float = math.nan
    spearman_hi: float = math.nan
    kendall: float = math.nan
    kendall_lo: float = math.nan
    kendall_hi: float = math.nan
    partial_spearman: float = math.nan
    top_precision: float = math.nan
    select_mean: float = math.nan
    select_std: float = math.nan
    vs_params: float = math.nan
    vs_params_lo: float = math.nan
    vs_params_hi: float = math.nan
    note: str = ""


@dataclass
class ProxiesReport:
    """Everything ``rcx analyze proxies`` shows. ``random``/``optimal``: mean and population
    std of the truth of a random architecture and of each draw's best, over the architectures
    with a usable truth; ``left_out``: metric -> why it has no row."""

    truth: str
    truth_higher_is_better: bool
    n_rows: int
    n_truth: int
    truth_excluded: dict[str, int]
    boot: int
    seed: int
    top_fraction: float
    n_arch: int
    runs: int
    random: tuple[float, float] = (math.nan, math.nan)
    optimal: tuple[float, float] = (math.nan, math.nan)
    rows: list[ProxyRow] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)


def _stream(seed: int, name: str) -> np.random.Generator:
    """The bootstrap stream of one metric: seeded by (seed, metric name), so a row does not
    depend on which other metrics the run has."""
    import numpy as np

    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _in_chunks(statistic, x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``statistic(x, y, idx)`` over slices of the resamples ``idx`` (B, n) whose (slice, n)
    work arrays stay near 32 MB each; (B,)."""
    import numpy as np

    step = max(1, 4_000_000 // len(x))
    parts = [statistic(x, y, idx[i:i + step]) for i in range(0, len(idx), step)]
    return np.concatenate(parts) if parts else np.zeros(0)


def proxy_row(metric: ColumnValues, kind: str, higher_is_better: bool, truth: ColumnValues, truth_higher: bool,
              log_params: ColumnValues | None, *, boot: int = 1000, seed: int = 0, top_fraction: float = 0.1,
              n_arch: int = 100, runs: int = 500, baseline: ColumnValues | None = None) -> ProxyRow:
    """Score one metric column against the truth over the rows usable in both; with a
    ``baseline`` (``params``, higher is better), also the paired difference from its Spearman."""
    import numpy as np

    mask, _ = usable_rows([metric, truth])
    n = int(mask.sum())
    sign = 1.0 if higher_is_better else -1.0
    x = sign * metric.values[mask]
    t_raw = truth.values[mask]
    t = t_raw if truth_higher else -t_raw
    row = functools.partial(ProxyRow, metric=metric.name, kind=kind, higher_is_better=higher_is_better, n=n)
    if n < MIN_N:
        return row(note=f"n < {MIN_N}")
    if np.ptp(x) == 0:
        return row(note="constant")
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(stats.spearmanr(x, t).statistic)
        tau = float(stats.kendalltau(x, t).statistic)
    idx = resample_indices(n, boot, _stream(seed, metric.name))
    rho_b, tau_b = _in_chunks(bootstrap_spearman, x, t, idx), _in_chunks(bootstrap_kendall, x, t, idx)
    notes = []
    partial = math.nan
    if log_params is not None:
        ok = np.isfinite(log_params.values[mask])
        if ok.sum() >= MIN_N:
            partial = partial_spearman(x[ok], t[ok], log_params.values[mask][ok])
            if ok.sum() < n:
                notes.append(f"partial over {int(ok.sum())}")
    select_mean = select_std = math.nan
    if n >= n_arch:
        picks = simulate(x, t_raw, n_arch, runs, np.random.default_rng([seed, n_arch]), True, truth_higher)
        select_mean, select_std = float(picks.picked.mean()), float(picks.picked.std())
    else:
        notes.append(f"n < N_a = {n_arch}: no selection")
    if not higher_is_better:
        notes.append("negated (lower is better)")
    vs = vs_lo = vs_hi = math.nan
    if baseline is not None and baseline.name != metric.name:
        z = baseline.values[mask]
        if np.isfinite(z).all() and np.ptp(z) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vs = rho - float(stats.spearmanr(z, t).statistic)
            vs_lo, vs_hi = percentile_interval(rho_b - _in_chunks(bootstrap_spearman, z, t, idx))
        else:
            notes.append(f"{baseline.name} missing: no difference")
    return row(vs_params=vs, vs_params_lo=vs_lo, vs_params_hi=vs_hi, spearman=rho,
               spearman_lo=percentile_interval(rho_b)[0], spearman_hi=percentile_interval(rho_b)[1], kendall=tau,
               kendall_lo=percentile_interval(tau_b)[0],
               kendall_hi=percentile_interval(tau_b)[1], partial_spearman=partial,
               top_precision=top_precision(x, t, top_fraction), select_mean=select_mean, select_std=select_std,
               note="; ".join(notes))


def _log_params(table, column: str = "params") -> ColumnValues | None:
    """log of a positive size column (``params`` by default; ``features``, ``flops`` or any
    numeric column for ``--partial``), NaN where it is not positive; None when absent."""
    import numpy as np

    if column not in table.columns:
        return None
    p = column_values(table, column, require_done=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(p.values > 0, np.log(p.values), np.nan)
    return ColumnValues(f"log({column})", values, p.reasons)


def _offset_copy(rows: Sequence[dict[str, Any]], column: str, baseline: str) -> bool:
    """Whether ``column`` is ``baseline`` plus one constant wherever both are numbers."""
    diffs = {r[column] - r[baseline] for r in rows
             if isinstance(r.get(column), (int, float)) and isinstance(r.get(baseline), (int, float))}
    return len(diffs) == 1


def candidate_metrics(table, truth: str) -> tuple[list[tuple[str, str, bool]], dict[str, str]]:
    """``(column, kind, higher_is_better)`` for every declared score except truths and the
    truth column itself, then the baselines; and the columns left out: metrics declared
    descriptions (times, throughputs, sizes, counts: ``rcx.api.Metric.role``), declared scores
    with no value in any row (a metric added to the evaluator after the results were
    written), an evaluator's own copy of a baseline (``cvu.params``: ``params`` plus its classifier head, the same
    ranking), and the numeric evaluator columns whose direction is not declared (their plugin is
    not installed here)."""
    from rcx.core.scores import BASELINE

    baselines = [b for b in BASELINES if b in table.columns and b != truth]
    left_out = {}
    out = []
    for c in table.metric_columns():
        if c == truth or is_truth_column(c) or table.roles.get(c) == BASELINE or "." not in c:
            continue
        if table.roles.get(c) == "description":
            left_out[c] = "a description, not a score"
            continue
        if not any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in table.rows):
            left_out[c] = "no values (declared by the evaluator, not recorded in these results)"
            continue
        base = c.rpartition(".")[2]
        if base in baselines and _offset_copy(table.rows, c, base):
            left_out[c] = f"{base} (baseline) plus a constant"
            continue
        out.append((c, "proxy", table.higher_is_better[c]))
    out += [(b, "baseline", table.higher_is_better.get(b, True)) for b in baselines]
    for c in table.columns:
        inst, dot, name = c.rpartition(".")
        if (dot and c not in table.higher_is_better and name not in ("status", "error") and not is_truth_column(c)
                and any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in table.rows)):
            left_out[c] = "direction not declared"
    return out, left_out


def proxies_report(table, truth: str, *, boot: int = 1000, seed: int = 0, top_fraction: float = 0.1,
                   n_arch: int = 100, runs: int = 500, metrics: Sequence[str] | None = None,
                   partial: str = "params") -> ProxiesReport:
    """The leaderboard of a :class:`~rcx.core.results.ResultsTable` against the column ``truth``
    (e.g. ``truth.nb201.cifar10``); ``metrics`` restricts it to some columns (default: all);
    ``partial``: the size column whose log the partial Spearman controls for."""
    import numpy as np

    if boot < 0 or runs < 1 or n_arch < 1:
        raise AnalysisError("--boot must be >= 0, --runs and --n-arch >= 1")
    if not 0 < top_fraction <= 1:
        raise AnalysisError(f"--top-fraction must be in (0, 1], not {top_fraction}")
    tc = column_values(table, truth, require_done=False)
    truth_higher = table.higher_is_better.get(tc.name, True)
    candidates, left_out = candidate_metrics(table, tc.name)
    if metrics is not None:  # as asked: also a description or a rank average (rankavg(a,b))
        auto = {c[0]: c for c in candidates}
        candidates = []
        for m in metrics:
            name = column_values(table, m, require_done=False).name
            if name not in auto and name not in table.higher_is_better:
                raise AnalysisError(f"{name} has no declared direction to rank by")
            candidates.append(auto.get(name, (name, "proxy", table.higher_is_better.get(name, True))))
        left_out = {}
    if not candidates:
        raise AnalysisError(f"the run has no numeric metric to compare with {tc.name}")
    t_mask, t_excluded = usable_rows([tc])
    report = ProxiesReport(tc.name, truth_higher, len(table.rows), int(t_mask.sum()), t_excluded, boot, seed,
                           top_fraction, n_arch, runs, left_out=left_out)
    if report.n_truth < MIN_N:
        raise AnalysisError(f"only {report.n_truth} architectures have a usable {tc.name}"
                            + (f"; {excluded_note(t_excluded)}" if t_excluded else ""))
    t_all = tc.values[t_mask]
    report.random = (float(t_all.mean()), float(t_all.std()))
    if report.n_truth >= n_arch:
        best = simulate(t_all, t_all, n_arch, runs, np.random.default_rng([seed, n_arch]), truth_higher, truth_higher)
        report.optimal = (float(best.best.mean()), float(best.best.std()))
    if partial != "params" and partial not in table.columns:
        raise AnalysisError(f"--partial {partial!r}: no such column (e.g. params, flops, features)")
    log_params = _log_params(table, partial)
    params = column_values(table, "params", require_done=False) if "params" in table.columns else None
    rows = []
    for name, kind, higher in candidates:
        mc = column_values(table, name, require_done=(kind == "proxy"))
        row = proxy_row(mc, kind, higher, tc, truth_higher, log_params, boot=boot, seed=seed,
                        top_fraction=top_fraction, n_arch=n_arch, runs=runs, baseline=params)
        if row.note == "constant":
            report.left_out[name] = "constant"
            continue
        rows.append(row)
    report.rows = sorted(rows, key=lambda r: (not math.isfinite(r.spearman),
                                              -r.spearman if math.isfinite(r.spearman) else 0))
    return report


# -- command ------------------------------------------------------------------------------------
COLUMNS = ("metric", "kind", "higher_is_better", "n", "spearman", "spearman_lo", "spearman_hi", "kendall", "kendall_lo",
           "kendall_hi", "partial_spearman", "vs_params", "vs_params_lo", "vs_params_hi", "top_precision",
           "select_mean", "select_std", "note")


def _interval(v: float, lo: float, hi: float, sign: bool = False) -> str:
    """``v [lo, hi]`` (``v`` alone without an interval), numbers as :func:`fmt_r` writes them."""
    if not math.isfinite(v):
        return "n/a"
    return f"{fmt_r(v, sign)} [{fmt_r(lo, sign)}, {fmt_r(hi, sign)}]" if math.isfinite(lo) else fmt_r(v, sign)


def _difference(v: float, lo: float, hi: float) -> str:
    return _interval(v, lo, hi, sign=True) if math.isfinite(v) else ""


def _pm(mean: float, std: float) -> str:
    return "" if not math.isfinite(mean) else f"{fmt_r(mean)} ± {fmt_r(std)}"


def table_rows(report: ProxiesReport, partial: str = "params") -> tuple[list[str], list[dict[str, Any]]]:
    """The terminal table: headers and preformatted rows."""
    pct = f"{100 * report.top_fraction:g}"
    heads = ["metric", "better", "n", "spearman [95% CI]", "kendall [95% CI]", f"partial|{partial}",
             "vs params [95% CI]", f"top-{pct}% prec", f"select@{report.n_arch}", "note"]
    out = []
    for r in report.rows:
        out.append({
            "metric": r.metric + (" (baseline)" if r.kind == "baseline" else ""),
            "better": "higher" if r.higher_is_better else "lower",
            "n": f"{r.n:,}",
            "spearman [95% CI]": _interval(r.spearman, r.spearman_lo, r.spearman_hi),
            "kendall [95% CI]": _interval(r.kendall, r.kendall_lo, r.kendall_hi),
            f"partial|{partial}": fmt_r(r.partial_spearman),
            "vs params [95% CI]": _difference(r.vs_params, r.vs_params_lo, r.vs_params_hi),
            f"top-{pct}% prec": fmt_r(r.top_precision),
            f"select@{report.n_arch}": _pm(r.select_mean, r.select_std),
            "note": r.note,
        })
    return heads, out


def bar_chart(report: ProxiesReport, stream: IO[str] | None = None) -> None:
    """A terminal bar chart of each metric's Spearman with its 95 % interval (plotext)."""
    import plotext as plt  # lazily: the CLI must not import it unless asked to draw

    stream = stream or sys.stdout
    rows = [r for r in report.rows if math.isfinite(r.spearman)]
    plt.clear_figure()
    if rows:
        labels = [r.metric for r in rows]
        values = [r.spearman for r in rows]
        plt.bar(labels, values, width=0.3)
        for pos, r in enumerate(rows, start=1):  # the bars sit at x = 1, 2, ...
            if math.isfinite(r.spearman_lo):
                plt.plot([pos, pos], [r.spearman_lo, r.spearman_hi], marker="│", color="red")
    low = min([0.0, *(min(r.spearman, r.spearman_lo) for r in rows if math.isfinite(r.spearman_lo))])
    plt.ylim(low, 1.0)
    plt.title(f"Spearman with {report.truth} (95% bootstrap intervals, B={report.boot})")
    plt.plotsize(min(plt.terminal_width() or 100, 100), 25)
    text = plt.build()
    stream.write((text if stream.isatty() else plt.uncolorize(text)) + "\n")
    plt.clear_figure()


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze proxies`` command."""
    from rcx.exits import EXIT_OK, EXIT_USAGE, error

    try:
        table, run_id = load_table(args.db, args.run, args.csv, args.join)
        if args.epochs:
            from rcx.analysis.curves import with_epoch_columns

            table, _ = with_epoch_columns(table, [args.db, *args.join], args.run)
        names = split_columns(args.metrics) if args.metrics else None
        table, (truth,) = resolve_names(table, [args.truth])
        report = proxies_report(table, truth, boot=args.boot, seed=args.seed, top_fraction=args.top_fraction,
                                n_arch=one_n_arch(args.n_arch), runs=args.runs,
                                metrics=names, partial=args.partial)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    rows = [{k: getattr(r, k) for k in COLUMNS} for r in report.rows]
    meta = {"db": str(args.db), "run": run_id, "truth": report.truth,
            "truth_higher_is_better": report.truth_higher_is_better,
            "candidates": report.n_rows, "truth_usable": report.n_truth, "truth_excluded": report.truth_excluded,
            "boot": report.boot, "seed": report.seed, "interval": 0.95, "top_fraction": report.top_fraction,
            "n_arch": report.n_arch, "runs": report.runs,
            "random_mean": report.random[0], "random_std": report.random[1],
            "optimal_mean": report.optimal[0], "optimal_std": report.optimal[1], "left_out": report.left_out}
    title = f"proxies against {report.truth} (run {run_id})"
    note = (f"{report.n_truth} of {report.n_rows} architectures have {report.truth}; lower-is-better metrics are "
            f"negated, so a good proxy is positive; 95% percentile bootstrap intervals "
            f"(B={report.boot}, seed {report.seed}); partial: Spearman partial to log({args.partial}); "
            f"select@{report.n_arch}: truth of the pick among "
            f"{report.n_arch} random architectures over {report.runs} draws (random {_pm(*report.random)}, "
            f"optimal {_pm(*report.optimal) or 'n/a'})")
    if report.left_out:
        note += "\nleft out: " + ", ".join(f"{c} ({why})" for c, why in report.left_out.items())
    heads, shown = table_rows(report, args.partial)
    if args.format != "table":
        emit(args.format, COLUMNS, rows, title=title, meta=meta, note=note)
        return EXIT_OK
    emit("table", heads, shown, title=title, meta=meta, note=note)
    if args.plot:
        bar_chart(report)
    return EXIT_OK


def one_n_arch(text: str) -> int:
    """The value of ``--n-arch`` (one integer >= 1)."""
    n_arch = parse_int_list(str(text), "--n-arch")
    if len(n_arch) != 1:
        raise AnalysisError(f"--n-arch: one number, not {text!r}")
    return n_arch[0]


def add_statistics_arguments(p: argparse.ArgumentParser) -> None:
    """The leaderboard's statistics options: --boot, --seed, --top-fraction, --n-arch, --runs."""
    p.add_argument("--boot", type=int, default=1000,
                   help="bootstrap resamples for the intervals (default 1000; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples, draws and splits (default 0)")
    p.add_argument("--top-fraction", type=float, default=0.1, help="fraction for top-k precision (default 0.1)")
    p.add_argument("--n-arch", default="100", metavar="N", help="N_a of the selection figure (default 100)")
    p.add_argument("--runs", type=int, default=500, help="selection draws (default 500)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``proxies`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "proxies", help="leaderboard of every metric against a truth (Spearman, Kendall, partial, top-10%%, selection)",
        description="Every numeric metric of the run, and params/FLOPs as baselines, against a truth: n, Spearman and "
                    "Kendall with 95% bootstrap intervals, Spearman partial to log(params) (or --partial), top-10% "
                    "precision and the truth of the metric's pick among N_a random architectures (seed 002). "
                    "Lower-is-better metrics are negated so that a good proxy is positive; rows are sorted by "
                    "Spearman.")
    add_common_arguments(p)
    p.add_argument("--truth", required=True,
                   help="truth table subset, e.g. nb201:cifar10, or a column (trained.val_acc)")
    p.add_argument("--metrics", metavar="COLS",
                   help="only these columns (comma-separated; a rank average as rankavg(a,b,c); default: every "
                        "metric declared a score, and the baselines params and flops)")
    p.add_argument("--epochs", action="store_true",
                   help="also rank each epoch of the training evaluators' learning curves as a metric (NAME@E: after "
                        "epoch E of the schedule, e.g. trained.val_acc@1, trained.tse@2)")
    add_statistics_arguments(p)
    p.add_argument("--partial", default="params", metavar="COLUMN",
                   help="the size column the partial Spearman controls for, as its log (default params; e.g. "
                        "features: the last layer's feature count, seed 000's explanation of the ridge readout)")
    p.add_argument("--plot", action="store_true", help="table format: also draw Spearman with intervals as bars")
    p.set_defaults(func=run)
