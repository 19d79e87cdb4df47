"""How much does a sample of cells decide whether a proxy beats params? (NAS-Bench-201, synflow)

SCIENCE.md's leaderboards rest on a sample of cells, and their "vs params" intervals resample
that sample's cells. With synflow scored on all 15,625 cells of NAS-Bench-201
(``studies/plans/nb201_all_synflow.toml``, archive ``studies/results/nb201_all_synflow.db.xz``)
the sample's own effect can be measured: draw many independent samples of ``n`` cells from the
whole benchmark (seeded), and in each compute what a study of that sample would report: the
difference of Spearman correlations with the truth, synflow minus params, and its paired
percentile bootstrap interval over the sample's cells (as ``rcx analyze proxies`` does). The
table gives, per (dataset, n): the whole benchmark's difference, the middle 95 % of the
samples' differences, and the share of samples whose interval lies above zero ("synflow
beats params with confidence"), below zero ("params beats synflow") or spans it.

    python studies/sample_variation.py [--samples 200] [--boot 200] [--n 400,1000] [--format table|csv]
"""

from __future__ import annotations

import argparse
import csv
import lzma
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / "studies" / "results" / "nb201_all_synflow.db.xz"
DATASETS = ("cifar10", "cifar100", "imagenet16")


def scores() -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(ids, synflow, params)`` of every cell the archive scored (status done), in id order."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.db"
        with lzma.open(ARCHIVE) as src, db.open("wb") as out:
            shutil.copyfileobj(src, out)
        con = sqlite3.connect(db)
        rows = con.execute("SELECT e.arch, e.metrics_json, c.info_json FROM evaluations e JOIN candidates c "
                           "ON c.run_id = e.run_id AND c.arch = e.arch WHERE e.evaluator = 'synflow' "
                           "AND e.state = 'done' ORDER BY e.arch").fetchall()
        con.close()
    ids = [r[0] for r in rows]
    synflow = np.array([json.loads(r[1])["score"] for r in rows], dtype=np.float64)
    params = np.array([json.loads(r[2])["params"] for r in rows], dtype=np.float64)
    return ids, synflow, params


def truth(ids: list[str], dataset: str) -> np.ndarray:
    """NAS-Bench-201 test accuracy (%) of ``ids`` on ``dataset`` (the packaged truth table)."""
    from rcx.plugins import get_registry, truth_values

    values = truth_values(get_registry().get("truth", "nb201"))
    return np.array([values[a][dataset] for a in ids], dtype=np.float64)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman of each row pair of (R, n) arrays (average ranks for ties)."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    return (rx * ry).sum(axis=1) / np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))


def difference(proxy: np.ndarray, size: np.ndarray, acc: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Spearman(proxy, acc) minus Spearman(size, acc) for each row of indices ``rows`` (R, n)."""
    return _spearman_rows(proxy[rows], acc[rows]) - _spearman_rows(size[rows], acc[rows])


def report(n_list: list[int], samples: int, boot: int, seed: int = 0) -> list[dict[str, object]]:
    ids, synflow, params = scores()
    out: list[dict[str, object]] = []
    for dataset in DATASETS:
        acc = truth(ids, dataset)
        whole = float(difference(synflow, params, acc, np.arange(len(ids))[None, :])[0])
        for n in n_list:
            rng = np.random.default_rng([seed, n, DATASETS.index(dataset)])
            diffs, above, below = [], 0, 0
            for _ in range(samples):
                cells = rng.choice(len(ids), size=n, replace=False)
                diffs.append(float(difference(synflow, params, acc, cells[None, :])[0]))
                resampled = cells[rng.integers(0, n, size=(boot, n))]
                lo, hi = np.percentile(difference(synflow, params, acc, resampled), [2.5, 97.5])
                above += lo > 0
                below += hi < 0
            d = np.array(diffs)
            lo95, hi95 = np.percentile(d, [2.5, 97.5])
            out.append({
                "dataset": dataset, "n": n, "samples": samples,
                "whole benchmark": f"{whole:+.3f}",
                "samples: mean": f"{d.mean():+.3f}",
                "samples: middle 95 %": f"[{lo95:+.3f}, {hi95:+.3f}]",
                "interval above 0": f"{above / samples:.0%}",
                "interval below 0": f"{below / samples:.0%}",
                "spans 0": f"{(samples - above - below) / samples:.0%}",
            })
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", default="400,1000", help="sample sizes (comma-separated)")
    p.add_argument("--samples", type=int, default=200, help="independent samples per size")
    p.add_argument("--boot", type=int, default=200, help="bootstrap resamples per sample")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    a = p.parse_args()
    rows = report([int(x) for x in a.n.split(",")], a.samples, a.boot)
    if a.format == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    else:
        keys = list(rows[0])
        print(" | ".join(keys))
        for r in rows:
            print(" | ".join(str(r[k]) for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
