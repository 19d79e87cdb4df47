"""Does the NAS-Bench-201 leaderboard survive a second, independent sample of cells? (issue 19)

The study's first sample is 1,000 random cells drawn with plan seed 0 (``runs/nb201_study.db``
and ``runs/nb201_study_zerocost.db``), the second 1,000 cells drawn with plan seed 1
(``runs/nb201_sample2.db``, ``studies/plans/nb201_sample2.toml``), every training-free score in
both. Per truth column and score, the table gives each sample's Spearman with its 95 %
percentile bootstrap interval and its difference from params' (paired, as ``rcx analyze
proxies`` computes them, on its resamples: sample 1's figures are the leaderboard's), the
difference between the samples (sample 2 minus sample 1, from independent resamples of each),
whether both samples reach the same verdict against params (interval above zero, below zero
or spanning it), and the two samples pooled (cells in both counted once, with sample 1's
scores).

    python studies/study.py pull nb201_study nb201_study_zerocost nb201_sample2
    python studies/two_samples.py [--truth cifar10,cifar100,imagenet16] [--boot 1000] [--format table|csv]
        [--sample1 runs/nb201_study.db,runs/nb201_study_zerocost.db] [--sample2 runs/nb201_sample2.db]
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE1 = (ROOT / "runs" / "nb201_study.db", ROOT / "runs" / "nb201_study_zerocost.db")
SAMPLE2 = (ROOT / "runs" / "nb201_sample2.db",)
METRICS = ("naswot.score", "zico.score", "synflow.score", "jacov.score", "snip.score", "grad_norm.score",
           "grasp.score", "fisher.score", "zen.score", "ridge_rfm.val_acc", "ridge_loo.val_acc")
COLUMNS = ("dataset", "metric", "n_1", "n_2", "spearman_1", "spearman_1_lo", "spearman_1_hi", "spearman_2",
           "spearman_2_lo", "spearman_2_hi", "vs_sample_1", "vs_sample_1_lo", "vs_sample_1_hi", "vs_params_1",
           "vs_params_1_lo", "vs_params_1_hi", "vs_params_2", "vs_params_2_lo", "vs_params_2_hi", "verdicts",
           "n_pooled", "pooled", "pooled_lo", "pooled_hi", "vs_params_pooled", "vs_params_pooled_lo",
           "vs_params_pooled_hi")
"""The CSV's columns: ``X``, ``X_lo``, ``X_hi`` are a value and its 95 % interval; ``vs_sample_1``
is sample 2's Spearman minus sample 1's; ``vs_params_*`` a Spearman minus params' on the same
cells; ``verdicts``: "agree" when both samples' ``vs_params`` intervals lie on the same side of
zero (or both span it), else the two verdicts."""


def load(paths: list[Path] | tuple[Path, ...], truth: str):  # -> ResultsTable with the truth joined, its column name
    """The joined results table of one sample with the truth subset ``truth`` (e.g. ``cifar10``)."""
    from rcx.analysis.common import load_table
    from rcx.analysis.truth import resolve_names

    for p in paths:
        if not p.exists():
            raise SystemExit(f"{p} is missing: python studies/study.py pull {p.stem}")
    table, _ = load_table(paths[0], None, (), paths[1:])
    table, (column,) = resolve_names(table, [f"nb201:{truth}"])
    return table, column


def columns(table, names: list[str]) -> dict[str, dict[str, float]]:
    """``{arch id: {name: value}}`` for the rows where every column in ``names`` is a finite
    number; the first column is the score, read from finished evaluations only (as ``rcx
    analyze proxies`` does), the others are baselines or truths."""
    from rcx.analysis.common import column_values

    cols = [column_values(table, n, require_done=i == 0 and n != "flops") for i, n in enumerate(names)]
    out = {}
    for i, row in enumerate(table.rows):
        values = [float(c.values[i]) for c in cols]
        if all(math.isfinite(v) for v in values):
            out[row["arch"]] = dict(zip(names, values, strict=True))
    return out


def summary(v: np.ndarray, boot: int, key: list[int]) -> dict:
    """For ``v`` (n, 3): columns score, params, truth. The score's Spearman with the truth, its
    difference from params' on the same cells, their 95 % percentile bootstrap intervals (the
    difference's from paired resamples) and the bootstrap Spearmans ``rho_b`` (B,)."""
    from rcx.analysis.common import spearman
    from rcx.analysis.proxies import bootstrap_spearman, percentile_interval, resample_indices

    x, base, t = v[:, 0], v[:, 1], v[:, 2]
    idx = resample_indices(len(x), boot, np.random.default_rng(key))
    rho_b = bootstrap_spearman(x, t, idx)
    vs_b = rho_b - bootstrap_spearman(base, t, idx)
    rho = spearman(x, t)
    return {"rho": rho, "rho_ci": percentile_interval(rho_b), "vs": rho - spearman(base, t),
            "vs_ci": percentile_interval(vs_b), "rho_b": rho_b}


def verdict(ci: tuple[float, float]) -> str:
    """Where an interval lies against zero."""
    return "above 0" if ci[0] > 0 else "below 0" if ci[1] < 0 else "spans 0"


def triple(name: str, v: float, ci: tuple[float, float]) -> dict[str, float]:
    """``{name: v, name_lo: lo, name_hi: hi}``."""
    return {name: v, f"{name}_lo": ci[0], f"{name}_hi": ci[1]}


def rows_for(dataset: str, sample1: list[Path], sample2: list[Path], boot: int, seed: int) -> list[dict]:
    """The rows of one NAS-Bench-201 truth subset (``cifar10``, ``cifar100``, ``imagenet16``):
    every score of :data:`METRICS` that both samples have, then params itself."""
    from rcx.analysis.proxies import percentile_interval

    (t1, c1), (t2, c2) = load(sample1, dataset), load(sample2, dataset)
    rows: list[dict] = []
    for metric in (*METRICS, "params"):
        if metric not in t1.columns or metric not in t2.columns:
            continue
        a = {k: [r[metric], r["params"], r[c1]] for k, r in columns(t1, [metric, "params", c1]).items()}
        b = {k: [r[metric], r["params"], r[c2]] for k, r in columns(t2, [metric, "params", c2]).items()}
        if len(a) < 3 or len(b) < 3:
            continue
        key = zlib.crc32(metric.encode())
        pooled = {**b, **a}  # a cell drawn in both samples counts once, with sample 1's scores
        # sample 1 on the leaderboard's own resamples (rcx analyze proxies: seed, crc32 of the name)
        one, two, pool = (summary(np.array(list(part.values())), boot, [seed, key, *tail])
                          for part, tail in ((a, []), (b, [2]), (pooled, [0])))
        diff_ci = percentile_interval(two["rho_b"] - one["rho_b"])
        v1, v2 = verdict(one["vs_ci"]), verdict(two["vs_ci"])
        row = {"dataset": dataset, "metric": metric, "n_1": len(a), "n_2": len(b),
               **triple("spearman_1", one["rho"], one["rho_ci"]), **triple("spearman_2", two["rho"], two["rho_ci"]),
               **triple("vs_sample_1", two["rho"] - one["rho"], diff_ci),
               **triple("vs_params_1", one["vs"], one["vs_ci"]), **triple("vs_params_2", two["vs"], two["vs_ci"]),
               "verdicts": "agree" if v1 == v2 else f"{v1}, {v2}", "n_pooled": len(pooled),
               **triple("pooled", pool["rho"], pool["rho_ci"]),
               **triple("vs_params_pooled", pool["vs"], pool["vs_ci"])}
        if metric == "params":
            row.update({k: "" for k in row if k.startswith("vs_params") or k == "verdicts"})
        rows.append(row)
    return rows


def paths(text: str) -> list[Path]:
    """Comma-separated results files (the first is the table, the others are joined to it)."""
    return [Path(p) if Path(p).is_absolute() else ROOT / p for p in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--sample1", default=",".join(str(x.relative_to(ROOT)) for x in SAMPLE1),
                   help="the first sample's results files, comma-separated (default: the study's)")
    p.add_argument("--sample2", default=",".join(str(x.relative_to(ROOT)) for x in SAMPLE2),
                   help="the second sample's results files (default: runs/nb201_sample2.db)")
    p.add_argument("--truth", default="cifar10", help="NAS-Bench-201 subsets, comma-separated (default cifar10)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples (default 0)")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    a = p.parse_args(argv)
    rows = [r for d in a.truth.split(",")
            for r in rows_for(d.strip(), paths(a.sample1), paths(a.sample2), a.boot, a.seed)]
    out = io.StringIO()
    w = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    if a.format == "csv":
        sys.stdout.write(out.getvalue())
        return 0
    from study import markdown  # studies/study.py, beside this script

    lines = list(csv.reader(io.StringIO(out.getvalue())))
    print(markdown(lines[0], lines[1:], {}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
