"""Pareto fronts (``rcx results --pareto``) against a brute-force computation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rcx.analysis.common import AnalysisError
from rcx.analysis.pareto import Objective, front_mask, pareto_front, parse_objectives
from rcx.cli import main
from rcx.core.results import ResultsTable
from tests.analysis_store import hand_store


def brute_force(values: np.ndarray) -> np.ndarray:
    n = len(values)
    return np.array([not any((values[j] >= values[i]).all() and (values[j] > values[i]).any() for j in range(n))
                     for i in range(n)], dtype=bool)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_front_matches_brute_force_with_ties_and_duplicates(k, seed):
    rng = np.random.default_rng([k, seed])
    n = int(rng.integers(1, 120))
    values = rng.integers(0, 6, size=(n, k)).astype(float)  # small range: many ties and duplicates
    if seed % 2:
        values = rng.normal(size=(n, k))
    assert np.array_equal(front_mask(values), brute_force(values))


def test_front_of_more_rows_than_a_chunk_matches_brute_force():
    values = np.random.default_rng(7).integers(0, 30, size=(1500, 3)).astype(float)
    sub = values[:300]
    assert np.array_equal(front_mask(sub), brute_force(sub))
    full = front_mask(values)
    assert full.any() and np.array_equal(full[:0], np.zeros(0, dtype=bool))
    for i in np.flatnonzero(full)[:20]:  # spot checks on the large input
        assert not ((values >= values[i]).all(axis=1) & (values > values[i]).any(axis=1)).any()


def test_empty_and_single_rows():
    assert front_mask(np.zeros((0, 2))).shape == (0,)
    assert front_mask(np.array([[1.0, 2.0]])).tolist() == [True]


def _table() -> ResultsTable:
    rows = [
        {"arch": "a", "e.score": 3.0, "e.status": "done", "flops": 30, "e.err": 1.0},
        {"arch": "b", "e.score": 2.0, "e.status": "done", "flops": 10, "e.err": 2.0},
        {"arch": "c", "e.score": 2.0, "e.status": "done", "flops": 20, "e.err": 3.0},  # dominated by b
        {"arch": "d", "e.score": 1.0, "e.status": "done", "flops": 10, "e.err": 0.5},  # dominated by b (flops tie)
        {"arch": "e", "e.score": 9.0, "e.status": "failed", "flops": 1, "e.err": 0.0},  # not done: left out
        {"arch": "f", "e.score": None, "e.status": "done", "flops": 1, "e.err": 0.0},
    ]
    return ResultsTable(["arch", "flops", "e.status", "e.score", "e.err"], rows, {"e.score": True, "e.err": False},
                        ["e"], {})


def test_objectives_take_declared_directions_costs_and_explicit_ones():
    table = _table()
    assert parse_objectives("score,flops", table) == [Objective("e.score", True), Objective("flops", False)]
    assert parse_objectives(["score:min", "e.err:max"], table) == \
        [Objective("e.score", False), Objective("e.err", True)]
    front, excluded = pareto_front(table, parse_objectives("score,flops", table))
    assert [r["arch"] for r in front] == ["a", "b"]
    assert excluded == {"e.status failed": 1, "e.score missing": 1}
    front3, _ = pareto_front(table, parse_objectives("score,flops,err", table))
    assert [r["arch"] for r in front3] == ["a", "b", "d"], "d has the lowest err"


@pytest.mark.parametrize("spec, message", [
    ("score", "at least two objectives"),
    ("score,nosuch", "no column 'nosuch'"),
    ("score,arch:up", "max or min"),
    ("score,score", "names a column twice"),
])
def test_bad_objectives(spec, message):
    with pytest.raises(AnalysisError, match=message):
        parse_objectives(spec, _table())


def test_results_pareto_command(tmp_path, capsys):
    db = hand_store(tmp_path / "r.db", [
        {"arch": "p", "proxy": 0.9, "params": 500}, {"arch": "q", "proxy": 0.5, "params": 100},
        {"arch": "r", "proxy": 0.4, "params": 300}, {"arch": "s", "proxy": 0.95, "params": 900},
    ], evaluators={"proxy": "ridge_rfm"})
    assert main(["results", str(db), "--pareto", "val_acc,params", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in rows] == ["s", "p", "q"], \
        "sorted by the first objective, best first; r is dominated by q"
    assert main(["results", str(db), "--pareto", "val_acc,params"]) == 0
    assert "Pareto front of proxy.val_acc (higher) and params (lower)" in " ".join(capsys.readouterr().out.split())
    assert main(["results", str(db), "--pareto", "val_acc"]) == 2
    err = capsys.readouterr().err
    assert "at least two objectives" in err and err.count("\n") == 1
