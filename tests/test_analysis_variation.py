"""rcx analyze variation: a proxy's correlation across replicate seeds, folded intervals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rcx.analysis.common import AnalysisError, load_table
from rcx.analysis.variation import variation_report
from tests.analysis_store import hand_store


def _replicate(path: Path, seed: int, noise: float, n: int = 200, drop: int = 0) -> Path:
    """Same architectures and truth; the proxy redrawn with ``noise`` under ``seed``."""
    truth = np.random.default_rng(0).normal(size=n)
    rng = np.random.default_rng(seed)
    rows = [{"arch": f"a{i}", "params": 100 + (i * 37) % n, "truth": float(truth[i]),
             "proxy": float(truth[i] + noise * rng.normal())} for i in range(drop, n)]
    return hand_store(path, rows)


def test_spread_over_replicates_widens_the_folded_interval(tmp_path: Path) -> None:
    tables = [load_table(_replicate(tmp_path / f"r{s}.db", s, noise=1.5))[0] for s in (1, 2, 3)]
    report = variation_report(tables, "truth.val_acc", boot=400)
    (row,) = report.rows
    per = [float(v) for v in row.spearman_per_replicate.split()]
    assert len(per) == 3 and row.spearman == pytest.approx(np.mean(per), abs=1e-3)
    assert row.init_std == pytest.approx(np.std(per), abs=1e-3) and row.init_std > 0
    assert row.folded_lo <= row.cells_lo and row.folded_hi >= row.cells_hi
    assert row.vs_params > 0 and row.vs_params_lo > 0  # params is unrelated to the truth here
    again = variation_report(tables, "truth.val_acc", boot=400)
    assert again.rows[0].__dict__ == row.__dict__


def test_identical_replicates_have_no_init_spread(tmp_path: Path) -> None:
    tables = [load_table(_replicate(tmp_path / f"r{i}.db", 5, noise=0.5))[0] for i in range(2)]
    (row,) = variation_report(tables, "truth.val_acc", boot=200).rows
    assert row.init_std == 0
    assert (row.folded_lo, row.folded_hi) == pytest.approx((row.cells_lo, row.cells_hi))


def test_only_common_architectures_count(tmp_path: Path) -> None:
    full = load_table(_replicate(tmp_path / "a.db", 1, noise=1.0))[0]
    part = load_table(_replicate(tmp_path / "b.db", 2, noise=1.0, drop=50))[0]
    (row,) = variation_report([full, part], "truth.val_acc", boot=100).rows
    assert row.n == 150
    with pytest.raises(AnalysisError, match="--replicate"):
        variation_report([full], "truth.val_acc")


def test_cli(tmp_path: Path) -> None:
    a, b = _replicate(tmp_path / "a.db", 1, 1.0), _replicate(tmp_path / "b.db", 2, 1.0)
    out = subprocess.run([sys.executable, "-m", "rcx", "analyze", "variation", str(a), "--replicate", str(b),
                          "--truth", "truth.val_acc", "--boot", "100", "--format", "json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [r["metric"] for r in doc["rows"]] == ["proxy.val_acc"] and doc["rows"][0]["replicates"] == 2
