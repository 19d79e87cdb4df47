"""``rcx analyze fit``: with the truth of only a few architectures, how far does a fitted
combination of the scores get on the rest?

A user of a new search space can afford to train a handful of architectures. This analysis
draws ``L`` of them at random (the *labelled* ones, seeded; ``--repeats`` draws per ``L``), fits
a model from the scores to the truth on them, and ranks the other architectures (the *rest*) by
the model's prediction, against the truth of the rest (Kendall tau-b, as GreenFactory and the
zero-cost literature report it). On the same rest, for comparison:

- ``params``: the size baseline, which needs no labels;
- ``best single on labels``: the one score with the best Kendall on the labelled architectures;
- ``rank-avg(all scores)``: the rank average of every score, fixed in advance (no labels).

Features are each score's rank among all the usable architectures, scaled to (0, 1] and
oriented so that higher is better: ranking needs no label, is invariant to a score's scale
(synflow spans 40 orders of magnitude) and makes the fit robust to outliers. The models are
scikit-learn's (``pip install scikit-learn``): ``forest``, a random forest regressor (200
trees, at least 2 architectures per leaf), and ``ridge``, ``RidgeCV`` over a log grid of
penalties. ``vs params`` is the model's Kendall minus params' on the same rest, mean over the
draws with the 2.5 and 97.5 percentiles of the draws (the variation from which architectures
were labelled; the rest's own sampling error is smaller at these sizes).
"""

from __future__ import annotations

import argparse
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rcx.analysis.common import (
    AnalysisError,
    add_common_arguments,
    column_values,
    emit,
    excluded_note,
    fmt_r,
    load_table,
    parse_int_list,
    spearman,
    usable_rows,
)
from rcx.analysis.proxies import _difference, _pm
from rcx.analysis.truth import resolve_names

if TYPE_CHECKING:
    import numpy as np

MODELS = ("forest", "ridge")
COLUMNS = ("labels", "method", "draws", "n_rest", "kendall", "kendall_std", "spearman", "vs_params", "vs_params_lo",
           "vs_params_hi", "note")


@dataclass
class FitRow:
    """One method at one label count: Kendall and Spearman on the rest, mean over the draws."""

    labels: int
    method: str
    draws: int
    n_rest: int
    kendall: float
    kendall_std: float
    spearman: float
    vs_params: float = math.nan
    vs_params_lo: float = math.nan
    vs_params_hi: float = math.nan
    note: str = ""


@dataclass
class FitReport:
    truth: str
    n: int
    excluded: dict[str, int]
    features: list[str]
    model: str
    seed: int
    rows: list[FitRow] = field(default_factory=list)


def oriented_ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """(n,) ranks of ``values`` (ties averaged) scaled to (0, 1], highest for the best."""
    from scipy.stats import rankdata

    return rankdata(values if higher_is_better else -values) / len(values)


def make_model(kind: str, seed: int) -> Any:
    """A fresh scikit-learn regressor of ``kind`` (see the module docstring)."""
    try:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.linear_model import RidgeCV
    except ImportError:
        raise AnalysisError("rcx analyze fit needs scikit-learn: pip install scikit-learn") from None
    import numpy as np

    if kind == "forest":
        return RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=seed, n_jobs=1)
    if kind == "ridge":
        return RidgeCV(alphas=np.logspace(-3, 3, 13))
    raise AnalysisError(f"--model must be one of {', '.join(MODELS)}, not {kind!r}")


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(x, y).statistic)


def fit_report(table, truth: str, *, metrics: Sequence[str] | None = None, labels: Sequence[int] = (50, 100),
               repeats: int = 20, model: str = "forest", seed: int = 0) -> FitReport:
    """Fit on ``L`` labelled architectures, rank the rest; see the module docstring."""
    import numpy as np

    from rcx.analysis.combine import chosen_candidates

    if repeats < 1:
        raise AnalysisError(f"--repeats must be at least 1, not {repeats}")
    tc = column_values(table, truth, require_done=False)
    truth_higher = table.higher_is_better.get(tc.name, True)
    candidates = chosen_candidates(table, tc.name, metrics)
    if "params" not in table.columns:
        raise AnalysisError("the run has no params column, the baseline of this analysis")
    columns = {name: column_values(table, name, require_done=(kind == "proxy")) for name, kind, _ in candidates}
    params = columns.get("params") or column_values(table, "params", require_done=False)
    mask, excluded = usable_rows([tc, params, *columns.values()])
    n = int(mask.sum())
    kept = [(name, kind, higher) for name, kind, higher in candidates if np.ptp(columns[name].values[mask]) > 0]
    if not kept:
        raise AnalysisError("no non-constant score to fit on")
    for count in labels:
        if not 2 <= count <= n - 10:
            raise AnalysisError(f"--labels {count}: need 2 <= L <= {n - 10} ({n} usable architectures"
                                + (f"; {excluded_note(excluded)}" if excluded else "") + ")")
    features = np.stack([oriented_ranks(columns[name].values[mask], higher) for name, _, higher in kept], axis=1)
    t = tc.values[mask] if truth_higher else -tc.values[mask]  # (n,) higher is better
    p = params.values[mask]
    proxies = [i for i, (_, kind, _) in enumerate(kept) if kind == "proxy"]
    every = features[:, proxies].mean(axis=1) if len(proxies) > 1 else None

    report = FitReport(tc.name, n, excluded, [name for name, _, _ in kept], model, seed)
    for count in labels:
        results: dict[str, list[tuple[float, float]]] = {}
        picked: dict[str, int] = {}
        for r in range(repeats):
            rng = np.random.default_rng([seed, zlib.crc32(b"fit"), count, r])
            order = rng.permutation(n)
            lab, rest = np.sort(order[:count]), np.sort(order[count:])
            est = make_model(model, int(rng.integers(2**31)))
            est.fit(features[lab], t[lab])
            pred = est.predict(features[rest])
            on_labels = [_kendall(features[lab, j], t[lab]) for j in range(features.shape[1])]
            best = int(np.nanargmax(np.where(np.isfinite(on_labels), on_labels, -np.inf)))
            picked[report.features[best]] = picked.get(report.features[best], 0) + 1
            lineup = {f"{model} on {count} labels": pred, "params": p[rest],
                      "best single on labels": features[rest, best]}
            if every is not None:
                lineup[f"rank-avg(all {len(proxies)} scores)"] = every[rest]
            for method, score in lineup.items():
                results.setdefault(method, []).append((_kendall(score, t[rest]), spearman(score, t[rest])))
        base = np.array([k for k, _ in results["params"]])
        for method, pairs in results.items():
            k = np.array([a for a, _ in pairs])
            row = FitRow(count, method, repeats, n - count, float(k.mean()), float(k.std()),
                         float(np.mean([b for _, b in pairs])))
            if method != "params":
                diff = k - base
                row.vs_params = float(diff.mean())
                row.vs_params_lo, row.vs_params_hi = (float(v) for v in np.percentile(diff, [2.5, 97.5]))
            if method == "best single on labels":
                row.note = "picked: " + ", ".join(f"{m} {c}x" for m, c in sorted(picked.items(), key=lambda kv: -kv[1]))
            report.rows.append(row)
    return report


# -- command ------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """The ``rcx analyze fit`` command."""
    from rcx.exits import EXIT_OK, EXIT_USAGE, error
    from rcx.numfmt import format_number

    try:
        table, run_id = load_table(args.db, args.run, args.csv, args.join)
        names = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
        table, (truth,) = resolve_names(table, [args.truth])
        report = fit_report(table, truth, metrics=names, labels=parse_int_list(args.labels, "--labels", 2),
                            repeats=args.repeats, model=args.model, seed=args.seed)
    except AnalysisError as exc:
        error(str(exc))
        return EXIT_USAGE
    rows = [r.__dict__ for r in report.rows]
    shown = [{"labels": format_number(r.labels), "method": r.method, "kendall": _pm(r.kendall, r.kendall_std),
              "spearman": fmt_r(r.spearman), "vs params": _difference(r.vs_params, r.vs_params_lo, r.vs_params_hi),
              "note": r.note} for r in report.rows]
    meta = {"db": str(args.db), "joined": [str(p) for p in args.join], "run": run_id, "truth": report.truth,
            "usable": report.n, "excluded": report.excluded, "features": report.features, "model": report.model,
            "repeats": args.repeats, "seed": report.seed}
    note = (f"{report.n} architectures usable" + (f" ({excluded_note(report.excluded)})" if report.excluded else "")
            + f"; features: ranks of {', '.join(report.features)}; {args.repeats} random label draws per count "
            f"(seed {report.seed}); Kendall and Spearman on the unlabelled rest, mean ± std over the draws; vs params: "
            "paired difference of Kendall, mean [2.5, 97.5 percentiles of the draws]")
    title = f"fitted on a few labels against {report.truth} (run {run_id})"
    if args.format != "table":
        emit(args.format, COLUMNS, rows, title=title, meta=meta, note=note)
    else:
        emit("table", ["labels", "method", "kendall", "spearman", "vs params", "note"], shown, title=title, meta=meta,
             note=note)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fit`` to ``rcx analyze``."""
    p = subparsers.add_parser(
        "fit", help="fit the scores to the truth of a few labelled architectures, rank the rest (scikit-learn)",
        description="Draw L labelled architectures at random, fit a model (random forest or ridge, scikit-learn) "
                    "from the scores' ranks to their truth, and report the Kendall tau of its prediction on the "
                    "other architectures, next to params, the best single score on the labels and the rank "
                    "average of every score, over --repeats draws per L.")
    add_common_arguments(p)
    p.add_argument("--truth", required=True, help="truth table subset, e.g. nats_sss:cifar10, or a column")
    p.add_argument("--metrics", metavar="COLS",
                   help="feature columns (comma-separated; default: each evaluator's score and params, flops)")
    p.add_argument("--labels", default="50,100", metavar="L,L,...",
                   help="labelled architectures per draw (default 50,100)")
    p.add_argument("--repeats", type=int, default=20, help="random label draws per count (default 20)")
    p.add_argument("--model", choices=MODELS, default="forest", help="the regressor (default forest)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and the forests (default 0)")
    p.set_defaults(func=run)
