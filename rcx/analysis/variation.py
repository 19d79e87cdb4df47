"""``rcx analyze variation``: how much of a proxy's correlation is the random weights and batch it drew?

The leaderboard's intervals (``rcx analyze proxies``) resample the architectures, so they cover
the sample of architectures but not the proxy's own randomness: a proxy scores each
architecture with one random initialisation on one random batch. To see that variation, score
the same architectures again under other plan seeds (a plan with ``[sampler] kind = "ids"``
and another ``seed``: every weight and batch changes, the architectures do not) and give the
results files as replicates. For every metric that all replicates hold, over the architectures
usable in all of them:

- ``spearman``: the mean over the replicates of each replicate's Spearman with the truth;
- ``init std``: the standard deviation of those Spearmans over the replicates (population);
- ``cells [95 % CI]``: the percentile bootstrap interval over the architectures of the
  replicate-mean Spearman (the leaderboard's interval, for this sample);
- ``folded [95 % CI]``: a two-level bootstrap: each resample draws the architectures with
  replacement *and* one replicate at random, so the interval holds both the sample's and the
  proxy's randomness;
- ``vs params [95 % CI]``: the folded interval of the difference from ``params``'s Spearman
  (params does not depend on the seed); a proxy beats size with confidence when it is above 0.

Resamples are seeded by (``--seed``, metric name), as in ``rcx analyze proxies``.
"""

from __future__ import annotations

import argparse
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rcx.analysis.common import (
    AnalysisError,
    ColumnValues,
    add_common_arguments,
    column_values,
    emit,
    fmt_r,
    load_table,
    usable_rows,
)
from rcx.analysis.corr import MIN_N
from rcx.analysis.proxies import _difference, _in_chunks, bootstrap_spearman, candidate_metrics, percentile_interval
from rcx.analysis.truth import resolve_names

if TYPE_CHECKING:
    from rcx.core.results import ResultsTable

COLUMNS = ("metric", "replicates", "n", "spearman", "init_std", "spearman_per_replicate", "cells_lo", "cells_hi",
           "folded_lo", "folded_hi", "vs_params", "vs_params_lo", "vs_params_hi", "note")


@dataclass
class VariationRow:
    """One metric over ``n`` architectures common to every replicate; see the module docstring."""

    metric: str
    replicates: int
    n: int
    spearman: float = math.nan
    init_std: float = math.nan
    spearman_per_replicate: str = ""
    cells_lo: float = math.nan
    cells_hi: float = math.nan
    folded_lo: float = math.nan
    folded_hi: float = math.nan
    vs_params: float = math.nan
    vs_params_lo: float = math.nan
    vs_params_hi: float = math.nan
    note: str = ""


@dataclass
class VariationReport:
    truth: str
    replicates: int
    boot: int
    seed: int
    rows: list[VariationRow] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


def _aligned(tables: Sequence[ResultsTable], name: str, require_done: bool) -> list[ColumnValues]:
    """Column ``name`` of every table, each reordered to the first table's architectures (NaN
    where a table lacks the architecture)."""
    import numpy as np

    ids = [r["arch"] for r in tables[0].rows]
    out = []
    for table in tables:
        col = column_values(table, name, require_done=require_done)
        where = {r["arch"]: i for i, r in enumerate(table.rows)}
        values = np.array([col.values[where[a]] if a in where else np.nan for a in ids])
        reasons = [col.reasons[where[a]] if a in where else "not in this replicate" for a in ids]
        out.append(ColumnValues(col.name, values, reasons))
    return out


def variation_report(tables: Sequence[ResultsTable], truth: str, *, metrics: Sequence[str] | None = None,
                     boot: int = 1000, seed: int = 0) -> VariationReport:
    """Correlation of each metric with ``truth`` across replicate results tables (the first is
    the base; every table must hold the truth column and ``params``)."""
    import numpy as np

    if len(tables) < 2:
        raise AnalysisError("give at least one --replicate: the same architectures scored under another seed")
    if boot < 1:
        raise AnalysisError("--boot must be at least 1")
    base = tables[0]
    tc = column_values(base, truth, require_done=False)
    truth_higher = base.higher_is_better.get(tc.name, True)
    candidates, _ = candidate_metrics(base, tc.name)
    proxies = [(name, higher) for name, kind, higher in candidates if kind == "proxy"]
    if metrics is not None:
        wanted = {column_values(base, m, require_done=False).name for m in metrics}
        unknown = wanted - {p[0] for p in proxies}
        if unknown:
            raise AnalysisError(f"{', '.join(sorted(unknown))}: not a metric with a declared direction")
    else:
        from rcx.analysis.combine import score_columns

        wanted = set(score_columns(base))
    proxies = [p for p in proxies if p[0] in wanted]
    if "params" not in base.columns:
        raise AnalysisError("the base results file has no params column")
    params = column_values(base, "params", require_done=False)
    report = VariationReport(tc.name, len(tables), boot, seed)
    for name, higher in proxies:
        if any(name not in t.columns for t in tables[1:]):
            report.missing[name] = "not in every replicate"
            continue
        cols = _aligned(tables, name, require_done=True)
        mask, _ = usable_rows([tc, params, *cols])
        n = int(mask.sum())
        row = VariationRow(name, len(tables), n)
        if n < MIN_N:
            row.note = f"n < {MIN_N}"
            report.rows.append(row)
            continue
        sign = 1.0 if higher else -1.0
        t = tc.values[mask] if truth_higher else -tc.values[mask]
        xs = [sign * c.values[mask] for c in cols]
        z = params.values[mask]
        if any(np.ptp(x) == 0 for x in xs):
            row.note = "constant in a replicate"
            report.rows.append(row)
            continue
        from scipy.stats import spearmanr

        rhos = np.array([float(spearmanr(x, t).statistic) for x in xs])
        rho_params = float(spearmanr(z, t).statistic)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        idx = rng.integers(0, n, size=(boot, n))
        pick = rng.integers(0, len(xs), size=boot)
        per = np.stack([_in_chunks(bootstrap_spearman, x, t, idx) for x in xs])  # (R, B)
        base_b = _in_chunks(bootstrap_spearman, z, t, idx)  # (B,)
        folded = per[pick, np.arange(boot)]
        row.spearman = float(rhos.mean())
        row.init_std = float(rhos.std())
        row.spearman_per_replicate = " ".join(fmt_r(r) for r in rhos)
        row.cells_lo, row.cells_hi = percentile_interval(per.mean(axis=0))
        row.folded_lo, row.folded_hi = percentile_interval(folded)
        row.vs_params = row.spearman - rho_params
        row.vs_params_lo, row.vs_params_hi = percentile_interval(folded - base_b)
        report.rows.append(row)
    report.rows.sort(key=lambda r: (not math.isfinite(r.spearman), -r.spearman if math.isfinite(r.spearman) else 0))
    return report


# -- command ------------------------------------------------------------------------------------
def _ci(lo: float, hi: float) -> str:
    return f"[{fmt_r(lo)}, {fmt_r(hi)}]" if math.isfinite(lo) and math.isfinite(hi) else ""


def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze variation`` command."""
    from rcx.exits import EXIT_OK, EXIT_USAGE, error
    from rcx.numfmt import format_number

    try:
        base, run_id = load_table(args.db, args.run, args.csv, args.join)
        tables = [base] + [load_table(Path(p))[0] for p in args.replicate]
        resolved = []
        truth = args.truth
        for t in tables:
            t, (truth,) = resolve_names(t, [args.truth])
            resolved.append(t)
        names = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
        report = variation_report(resolved, truth, metrics=names, boot=args.boot, seed=args.seed)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    rows = [r.__dict__ for r in report.rows]
    shown = [{"metric": r.metric, "n": format_number(r.n), "spearman": fmt_r(r.spearman),
              "init std": fmt_r(r.init_std), "per replicate": r.spearman_per_replicate,
              "cells [95% CI]": _ci(r.cells_lo, r.cells_hi), "folded [95% CI]": _ci(r.folded_lo, r.folded_hi),
              "vs params [95% CI]": _difference(r.vs_params, r.vs_params_lo, r.vs_params_hi),
              "note": r.note} for r in report.rows]
    meta = {"db": str(args.db), "joined": [str(p) for p in args.join], "replicates": [str(p) for p in args.replicate],
            "run": run_id, "truth": report.truth, "boot": report.boot, "seed": report.seed, "missing": report.missing}
    note = (f"{report.replicates} replicates (the base and {report.replicates - 1} more seeds) over the architectures "
            f"usable in all; folded: bootstrap over architectures and replicates (B={report.boot}, seed {report.seed})")
    if report.missing:
        note += "\nleft out: " + ", ".join(f"{m} ({why})" for m, why in report.missing.items())
    title = f"variation from weights and batch against {report.truth} (run {run_id})"
    if args.format != "table":
        emit(args.format, COLUMNS, rows, title=title, meta=meta, note=note)
    else:
        emit("table", list(shown[0]) if shown else ["metric"], shown, title=title, meta=meta, note=note)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``variation`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "variation", help="a proxy's correlation across replicate seeds: its own randomness next to the sample's",
        description="Each metric's Spearman with the truth in the base results file and in replicates (the same "
                    "architectures under other plan seeds), its spread over the replicates, and intervals that "
                    "fold the architectures' and the seeds' randomness together.")
    add_common_arguments(p)
    p.add_argument("--replicate", action="append", default=[], metavar="DB", required=True,
                   help="a results file with the same architectures under another seed (repeatable)")
    p.add_argument("--truth", required=True, help="truth table subset, e.g. nb201:cifar10, or a column")
    p.add_argument("--metrics", metavar="COLS",
                   help="only these columns (comma-separated; default: each evaluator's score, its first headline "
                        "metric)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples (default 0)")
    p.set_defaults(func=run)
