"""``rcx analyze transfer``: a frozen score on several (results, truth) pairs, with paired intervals."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rcx.analysis.common import AnalysisError
from rcx.analysis.transfer import Pair, parse_pair, transfer_report
from rcx.cli import main
from tests.analysis_store import hand_store


def _pair(path: Path, seed: int, proxy_noise: float, params_noise: float,
          n: int = 80) -> tuple[Path, np.ndarray, np.ndarray]:
    """Truth t; proxy = t + noise; params = t + noise (as ranks, positive); flops a reversed copy
    of params (the weaker baseline). Returns the results file, t and proxy (rows in id order)."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    proxy = t + proxy_noise * rng.normal(size=n)
    params = t + params_noise * rng.normal(size=n)
    rank = stats.rankdata(params).astype(int)
    rows = [{"arch": f"a{i:03d}", "truth": float(t[i]), "proxy": float(proxy[i]), "params": 1000 + int(rank[i]),
             "flops": 10_000 - int(rank[i])} for i in range(n)]
    return hand_store(path, rows), t, proxy


def test_parse_pair() -> None:
    assert parse_pair("runs/a.db,runs/b.db@nb201:cifar100") == Pair((Path("runs/a.db"), Path("runs/b.db")),
                                                                     "nb201:cifar100")
    assert parse_pair("x.db@truth.val_acc").dbs == (Path("x.db"),)
    for bad in ("x.db", "@nb201:cifar10", "x.db@"):
        with pytest.raises(AnalysisError, match="DB\\[,DB...\\]@TRUTH"):
            parse_pair(bad)


def test_one_row_per_pair_with_paired_differences_and_the_verdict(tmp_path: Path) -> None:
    good, t, x = _pair(tmp_path / "good.db", seed=0, proxy_noise=0.2, params_noise=1.5)
    poor, _, _ = _pair(tmp_path / "poor.db", seed=1, proxy_noise=3.0, params_noise=0.3)
    pairs = [Pair((good,), "truth.val_acc"), Pair((poor,), "truth.val_acc")]
    rows = transfer_report(pairs, ["proxy.val_acc"], boot=300)
    assert [r.n for r in rows] == [80, 80]
    g, p = rows

    assert g.spearman == pytest.approx(stats.spearmanr(x, t).statistic)
    assert g.kendall == pytest.approx(stats.kendalltau(x, t).statistic)
    assert g.spearman_lo < g.spearman < g.spearman_hi
    rho_params = g.baseline_spearman["params"]
    assert g.vs["params"][0] == pytest.approx(g.spearman - rho_params)
    assert g.vs["params"][1] < g.vs["params"][0] < g.vs["params"][2]
    assert g.baseline_spearman["flops"] == pytest.approx(-rho_params), "flops is params reversed"
    assert g.stronger == "params" and g.beats == "yes"
    assert p.stronger == "params" and p.beats == "no" and p.vs["params"][2] < 0


def test_a_rank_average_is_oriented_and_rows_do_not_depend_on_the_other_pairs(tmp_path: Path) -> None:
    good, _, _ = _pair(tmp_path / "good.db", seed=0, proxy_noise=0.2, params_noise=1.5)
    poor, _, _ = _pair(tmp_path / "poor.db", seed=1, proxy_noise=3.0, params_noise=0.3)
    both = transfer_report([Pair((good,), "truth.val_acc"), Pair((poor,), "truth.val_acc")],
                           ["rankavg(proxy.val_acc,params)"], boot=100)
    alone = transfer_report([Pair((poor,), "truth.val_acc")], ["rankavg(proxy.val_acc,params)"], boot=100)
    assert both[0].spearman > 0.8, "the rank average is lower-is-better and must be negated"
    assert (alone[0].spearman_lo, alone[0].vs) == (both[1].spearman_lo, both[1].vs)


def test_partial_to_a_constant_column_is_left_empty(tmp_path: Path) -> None:
    rows = [{"arch": f"a{i}", "truth": float(i % 7), "proxy": float(i), "features": 64} for i in range(30)]
    db = hand_store(tmp_path / "c.db", rows)
    (row,) = transfer_report([Pair((db,), "truth.val_acc")], ["proxy.val_acc"], partial="features", boot=50)
    assert np.isnan(row.partial_spearman) and np.isfinite(row.spearman)


def test_cli_csv_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, _, _ = _pair(tmp_path / "good.db", seed=0, proxy_noise=0.2, params_noise=1.5)
    code = main(["analyze", "transfer", "--pair", f"{good}@truth.val_acc", "--pair", f"{good}@truth.val_acc",
                 "--metrics", "proxy.val_acc", "--vs", "params", "--boot", "50", "--format", "csv"])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2 and rows[0]["pair"] == "truth.val_acc" and rows[0]["beats"] == "yes"
    assert "vs_params_lo" in rows[0] and "vs_flops" not in rows[0]
    assert main(["analyze", "transfer", "--pair", f"{good}@truth.val_acc", "--metrics", "proxy.val_acc",
                 "--vs", "nope"]) == 2
    assert "--vs nope" in capsys.readouterr().err
