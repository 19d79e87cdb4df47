"""``rcx analyze transfer``: one frozen score (or a few) over several (space, truth) pairs.

A score chosen on one benchmark, e.g. the rank average ``rankavg(jacov.score,synflow.score,flops)``
chosen on NAS-Bench-201 CIFAR-10, is worth something to a user only if it keeps ranking well where
it was not chosen. This analysis takes the score as given (no refitting, no choice) and reports it
on each *pair*: a results file, optionally others joined by architecture id, and a truth
(``runs/nats_sss_study.db,runs/nats_sss_study_zerocost.db@nats_sss:cifar100``). One row per pair
and score:

- ``n``: architectures usable in the score, the truth and every baseline;
- Spearman and Kendall's tau-b with 95 % percentile bootstrap intervals (as ``rcx analyze
  proxies``), and the Spearman partial to log(``--partial``, default params);
- per baseline B (``--vs``, default params and flops): B's own Spearman on the same
  architectures (``spearman_B``) and ``vs_B``, the score's Spearman minus B's, with the interval
  of the paired bootstrap (the same resamples for both);
- ``stronger``: the baseline with the higher Spearman on the pair, and ``beats``: ``yes`` when
  the interval of the difference from it lies above zero, ``no`` otherwise.

Every column is oriented by its declared direction (a rank average is lower-is-better and is
negated), so a good score has positive coefficients.
"""

from __future__ import annotations

import argparse
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcx.analysis.common import (
    AnalysisError,
    column_values,
    emit,
    fmt_r,
    load_table,
    spearman,
    split_columns,
    usable_rows,
)
from rcx.analysis.corr import MIN_N
from rcx.analysis.proxies import (
    BASELINES,
    _difference,
    _in_chunks,
    _interval,
    _log_params,
    bootstrap_kendall,
    bootstrap_spearman,
    partial_spearman,
    percentile_interval,
    resample_indices,
)
from rcx.analysis.truth import resolve_names

if TYPE_CHECKING:

    from rcx.core.results import ResultsTable


@dataclass(frozen=True)
class Pair:
    """Results files (the first, then those joined by id) and the truth to rank against."""

    dbs: tuple[Path, ...]
    truth: str

    @property
    def label(self) -> str:
        return self.truth


def parse_pair(text: str) -> Pair:
    """``"a.db,b.db@nb201:cifar100"`` -> ``Pair((a.db, b.db), "nb201:cifar100")``."""
    files, at, truth = text.rpartition("@")
    dbs = tuple(Path(f.strip()) for f in files.split(",") if f.strip())
    if not at or not dbs or not truth.strip():
        raise AnalysisError(f"--pair: expected DB[,DB...]@TRUTH (e.g. runs/a.db,runs/b.db@nb201:cifar10), "
                            f"not {text!r}")
    return Pair(dbs, truth.strip())


@dataclass
class TransferRow:
    """One score on one pair; ``vs[B] = (difference, lo, hi)`` and ``baseline_spearman[B]`` per
    baseline B; coefficients of the oriented score."""

    pair: str
    metric: str
    n: int
    spearman: float = math.nan
    spearman_lo: float = math.nan
    spearman_hi: float = math.nan
    kendall: float = math.nan
    kendall_lo: float = math.nan
    kendall_hi: float = math.nan
    partial_spearman: float = math.nan
    baseline_spearman: dict[str, float] = field(default_factory=dict)
    vs: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    stronger: str = ""
    beats: str = ""
    note: str = ""


def _direction(table: ResultsTable, name: str) -> bool:
    if name in table.higher_is_better:
        return table.higher_is_better[name]
    if name in BASELINES:
        return True
    raise AnalysisError(f"{name} has no declared direction to rank by")


def transfer_rows(table: ResultsTable, truth: str, label: str, metrics: Sequence[str], *,
                  baselines: Sequence[str] = BASELINES, partial: str = "params", boot: int = 1000,
                  seed: int = 0) -> list[TransferRow]:
    """Each of ``metrics`` (columns or rank averages of ``table``) against the column ``truth``
    on one pair called ``label``; see the module docstring. The resamples of a row are seeded by
    (``seed``, ``label``, metric), so a row does not depend on the other pairs or metrics."""
    import numpy as np
    from scipy.stats import kendalltau

    if boot < 0:
        raise AnalysisError("--boot must be >= 0")
    tc = column_values(table, truth, require_done=False)
    t_sign = 1.0 if table.higher_is_better.get(tc.name, True) else -1.0
    base_cols = []
    for b in baselines:
        if b not in table.columns:
            raise AnalysisError(f"--vs {b}: no such column on {label} (e.g. params, flops)")
        base_cols.append(column_values(table, b, require_done=False))
    if partial != "params" and partial not in table.columns:
        raise AnalysisError(f"--partial {partial!r}: no such column on {label} (e.g. params, flops, features)")
    log_size = _log_params(table, partial)
    rows = []
    for m in metrics:
        mc = column_values(table, m, require_done=m not in BASELINES)
        sign = 1.0 if _direction(table, mc.name) else -1.0
        mask, _ = usable_rows([mc, tc, *base_cols])
        n = int(mask.sum())
        row = TransferRow(label, mc.name, n)
        rows.append(row)
        x, t = sign * mc.values[mask], t_sign * tc.values[mask]
        if n < MIN_N or np.ptp(x) == 0 or np.ptp(t) == 0:
            row.note = f"n < {MIN_N}" if n < MIN_N else "constant"
            continue
        row.spearman = spearman(x, t)
        row.kendall = float(kendalltau(x, t).statistic)
        idx = resample_indices(n, boot, np.random.default_rng([seed, zlib.crc32(label.encode()),
                                                                zlib.crc32(mc.name.encode())]))
        rho_b = _in_chunks(bootstrap_spearman, x, t, idx)
        row.spearman_lo, row.spearman_hi = percentile_interval(rho_b)
        row.kendall_lo, row.kendall_hi = percentile_interval(_in_chunks(bootstrap_kendall, x, t, idx))
        if log_size is not None:
            z = log_size.values[mask]
            ok = np.isfinite(z)
            if ok.sum() >= MIN_N and np.ptp(z[ok]) > 0:
                row.partial_spearman = partial_spearman(x[ok], t[ok], z[ok])
        for base in base_cols:
            z = base.values[mask]
            if np.ptp(z) == 0:
                row.baseline_spearman[base.name] = math.nan
                row.vs[base.name] = (math.nan, math.nan, math.nan)
                continue
            rho_z = spearman(z, t)
            row.baseline_spearman[base.name] = rho_z
            lo, hi = percentile_interval(rho_b - _in_chunks(bootstrap_spearman, z, t, idx))
            row.vs[base.name] = (row.spearman - rho_z, lo, hi)
        finite = {b: r for b, r in row.baseline_spearman.items() if math.isfinite(r)}
        if finite:
            row.stronger = max(finite, key=lambda b: (finite[b], -list(finite).index(b)))
            row.beats = "yes" if row.vs[row.stronger][1] > 0 else "no"
    return rows


def transfer_report(pairs: Sequence[Pair], metrics: Sequence[str], **kwargs: Any) -> list[TransferRow]:
    """:func:`transfer_rows` of every pair, in the order given."""
    out = []
    for pair in pairs:
        table, _ = load_table(pair.dbs[0], None, (), pair.dbs[1:])
        table, (truth,) = resolve_names(table, [pair.truth])
        out += transfer_rows(table, truth or pair.truth, pair.label, metrics, **kwargs)
    return out


# -- command ------------------------------------------------------------------------------------
def columns(baselines: Sequence[str]) -> list[str]:
    """The CSV/JSON columns for the baselines ``baselines``."""
    cols = ["pair", "metric", "n", "spearman", "spearman_lo", "spearman_hi", "kendall", "kendall_lo", "kendall_hi",
            "partial_spearman"]
    for b in baselines:
        cols += [f"spearman_{b}", f"vs_{b}", f"vs_{b}_lo", f"vs_{b}_hi"]
    return [*cols, "stronger", "beats", "note"]


def flat(row: TransferRow) -> dict[str, Any]:
    """A row as the CSV/JSON record of :func:`columns`."""
    out = {k: getattr(row, k) for k in ("pair", "metric", "n", "spearman", "spearman_lo", "spearman_hi", "kendall",
                                        "kendall_lo", "kendall_hi", "partial_spearman", "stronger", "beats", "note")}
    for b, rho in row.baseline_spearman.items():
        out[f"spearman_{b}"] = rho
        out[f"vs_{b}"], out[f"vs_{b}_lo"], out[f"vs_{b}_hi"] = row.vs[b]
    return out


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze transfer`` command."""
    from rcx.exits import EXIT_OK, EXIT_USAGE, error

    baselines = split_columns(args.vs)
    try:
        pairs = [parse_pair(p) for p in args.pair]
        rows = transfer_report(pairs, split_columns(args.metrics), baselines=baselines, partial=args.partial,
                               boot=args.boot, seed=args.seed)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    records = [flat(r) for r in rows]
    heads = ["pair", "metric", "n", "spearman [95% CI]", "kendall [95% CI]", f"partial|{args.partial}",
             *(f"vs {b} [95% CI]" for b in baselines), "beats", "note"]
    shown = [{"pair": r.pair, "metric": r.metric, "n": f"{r.n:,}",
              "spearman [95% CI]": _interval(r.spearman, r.spearman_lo, r.spearman_hi),
              "kendall [95% CI]": _interval(r.kendall, r.kendall_lo, r.kendall_hi),
              f"partial|{args.partial}": fmt_r(r.partial_spearman),
              **{f"vs {b} [95% CI]": _difference(*r.vs[b]) if b in r.vs else "" for b in baselines},
              "beats": f"{r.beats} ({r.stronger})" if r.beats else "", "note": r.note} for r in rows]
    meta = {"pairs": [{"dbs": [str(d) for d in p.dbs], "truth": p.truth} for p in pairs], "metrics": args.metrics,
            "baselines": baselines, "partial": args.partial, "boot": args.boot, "seed": args.seed, "interval": 0.95}
    note = (f"each score as given, not refitted; 95% percentile bootstrap intervals (B={args.boot}, seed {args.seed}); "
            f"vs B: Spearman minus B's on the same architectures, paired resamples; beats: the interval of the "
            f"difference from the stronger baseline lies above 0; partial: Spearman partial to log({args.partial})")
    if args.format == "table":
        emit("table", heads, shown, title="scores across pairs", meta=meta, note=note)
    else:
        emit(args.format, columns(baselines), records, title="scores across pairs", meta=meta, note=note)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``transfer`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "transfer",
        help="one frozen score over several (results, truth) pairs, each with paired intervals vs params/FLOPs",
        description="Report each score, as given (no refitting), on every pair of results files and truth: n, "
                    "Spearman and Kendall with 95% bootstrap intervals, the partial Spearman, and per baseline its "
                    "own Spearman and the paired difference with its interval; 'beats' says whether the interval "
                    "of the difference from the stronger baseline lies above zero.")
    p.add_argument("--pair", action="append", required=True, metavar="DB[,DB...]@TRUTH",
                   help="a results file, others joined by architecture id, and a truth, e.g. "
                        "runs/nb201_study.db,runs/nb201_study_zerocost.db@nb201:cifar100 (repeatable: one per pair)")
    p.add_argument("--metrics", required=True, metavar="COLS",
                   help="the scores (comma-separated; a rank average as rankavg(a,b,c))")
    p.add_argument("--vs", default=",".join(BASELINES), metavar="COLS",
                   help="baselines to compare with (default params,flops)")
    p.add_argument("--partial", default="params", metavar="COLUMN",
                   help="the size column the partial Spearman controls for, as its log (default params; e.g. features)")
    p.add_argument("--boot", type=int, default=1000,
                   help="bootstrap resamples for the intervals (default 1000; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples (default 0)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=run)
