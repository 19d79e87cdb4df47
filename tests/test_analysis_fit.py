"""rcx analyze fit: a model fitted on a few labelled architectures, judged on the rest."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rcx.analysis.common import AnalysisError, load_table
from rcx.analysis.fit import fit_report, oriented_ranks
from tests.analysis_store import hand_store


def _store(tmp_path: Path, n: int = 240) -> Path:
    rng = np.random.default_rng(7)
    truth = rng.normal(size=n)
    proxy = truth + 0.5 * rng.normal(size=n)          # informative
    noise = rng.normal(size=n)                        # a second, useless score
    params = rng.permutation(n) + 100                 # size says nothing here
    rows = [{"arch": f"a{i}", "params": int(params[i]), "flops": int(params[i]) * 3,
             "truth": float(truth[i]), "proxy": float(proxy[i]), "other": float(noise[i])} for i in range(n)]
    return hand_store(tmp_path / "fit.db", rows,
                      evaluators={"proxy": "ridge_rfm", "other": "ridge_rfm", "truth": "ridge_rfm"})


def test_oriented_ranks_put_the_best_highest() -> None:
    assert oriented_ranks(np.array([3.0, 1.0, 2.0]), True).tolist() == pytest.approx([1.0, 1 / 3, 2 / 3])
    assert oriented_ranks(np.array([3.0, 1.0, 2.0]), False).tolist() == pytest.approx([1 / 3, 1.0, 2 / 3])


def test_fitted_model_beats_a_useless_size_baseline_and_is_deterministic(tmp_path: Path) -> None:
    table, _ = load_table(_store(tmp_path))
    kw = dict(metrics=["proxy.val_acc", "other.val_acc", "params"], labels=[30, 60], repeats=5)
    report = fit_report(table, "truth.val_acc", **kw)
    rows = {(r.labels, r.method): r for r in report.rows}
    assert set(m for _, m in rows) == {"forest on 30 labels", "forest on 60 labels", "params",
                                       "best single on labels", "rank-avg(all 2 scores)"}
    fitted = rows[(60, "forest on 60 labels")]
    assert fitted.kendall > 0.4 and fitted.vs_params > 0.3 and fitted.vs_params_lo > 0
    assert abs(rows[(60, "params")].kendall) < 0.15 and math.isnan(rows[(60, "params")].vs_params)
    assert rows[(60, "best single on labels")].note == "picked: proxy.val_acc 5x"
    assert all(r.n_rest == 240 - r.labels for r in report.rows)
    again = fit_report(table, "truth.val_acc", **kw)
    assert [r.__dict__ for r in again.rows] == [r.__dict__ for r in report.rows]


def test_ridge_model_and_bad_label_counts(tmp_path: Path) -> None:
    table, _ = load_table(_store(tmp_path, n=120))
    report = fit_report(table, "truth.val_acc", metrics=["proxy.val_acc", "params"], labels=[40], repeats=3,
                        model="ridge")
    assert report.rows[0].method == "ridge on 40 labels" and report.rows[0].kendall > 0.3
    with pytest.raises(AnalysisError, match="--labels 115"):
        fit_report(table, "truth.val_acc", labels=[115])


def test_cli_json(tmp_path: Path) -> None:
    db = _store(tmp_path, n=150)
    out = subprocess.run([sys.executable, "-m", "rcx", "analyze", "fit", str(db), "--truth", "truth.val_acc",
                          "--metrics", "proxy.val_acc,params", "--labels", "50", "--repeats", "3", "--format", "json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["meta"]["usable"] == 150 and doc["meta"]["features"] == ["proxy.val_acc", "params"]
    assert {r["method"] for r in doc["rows"]} >= {"forest on 50 labels", "params", "best single on labels"}
