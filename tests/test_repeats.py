"""``rcx analyze repeats``: mean and spread over instances that differ only in _s<N> (issue 20)."""

from __future__ import annotations

import csv
import io

import pytest

from rcx.analysis.repeats import group_of, repeats
from rcx.cli import main
from rcx.core.store import Store


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.db"
    store = Store.open(path)
    plan = {"evaluators": {"frozen_s0": {}, "learnable_s0": {}, "frozen_s1": {}, "learnable_s1": {}, "one": {}}}
    run_id = store.create_run(name="r", plan_text="", plan=plan, plan_hash="h", versions={}, device="cpu",
                              device_name="cpu", dataset={"shape": [3, 8, 8]})
    store.add_candidates(run_id, [(0, "b", {}, {}, True, ""), (1, "a", {}, {}, True, "")])
    values = {("b", "frozen_s0"): 0.5, ("b", "frozen_s1"): 0.7, ("b", "learnable_s0"): 0.6, ("b", "one"): 0.1,
              ("a", "frozen_s0"): 0.2, ("a", "frozen_s1"): 0.4}
    for (arch, ev), v in values.items():
        store.finish_evaluation(run_id, arch, ev, "done", metrics={"val_acc": v}, seed=0)
    store.finish_evaluation(run_id, "a", "learnable_s0", "failed", error="boom", seed=0)
    store.close()
    return path


def test_group_names():
    assert group_of("frozen_s12") == "frozen" and group_of("f1_16_s0") == "f1_16" and group_of("s0") == "s0"


def test_rows_follow_candidates_then_plan_order_with_sample_std(db):
    _, rows = repeats(db, "val_acc")
    assert [(r["arch"], r["group"], r["n"]) for r in rows] == [
        ("b", "frozen", 2), ("b", "learnable", 1), ("b", "one", 1), ("a", "frozen", 2)]
    assert rows[0]["mean"] == pytest.approx(0.6) and rows[0]["std"] == pytest.approx(0.1414, abs=1e-4)
    assert rows[1]["std"] is None and rows[0]["instances"] == "frozen_s0,frozen_s1"  # failed ones do not count


def test_cli_csv_and_an_unknown_metric(db, capsys):
    assert main(["analyze", "repeats", str(db), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[-1]["arch"] == "a" and float(rows[-1]["mean"]) == pytest.approx(0.3)
    assert main(["analyze", "repeats", str(db), "--metric", "nope"]) == 2
    assert "no finished evaluation" in capsys.readouterr().err


def test_nothing_finished_yet_is_an_empty_table(tmp_path, capsys):
    path = tmp_path / "r.db"
    store = Store.open(path)
    run_id = store.create_run(name="r", plan_text="", plan={"evaluators": {"a_s0": {}}}, plan_hash="h", versions={},
                              device="cpu", device_name="cpu", dataset={"shape": [3, 8, 8]})
    store.add_candidates(run_id, [(0, "x", {}, {}, True, "")])
    store.start_evaluation(run_id, "x", "a_s0", 0, "cpu")
    store.close()
    assert repeats(path, "val_acc") == (run_id, [])
    assert main(["analyze", "repeats", str(path)]) == 0
    assert "no finished evaluation yet" in capsys.readouterr().out


def test_groups_follow_the_plan_files_order_not_the_stored_plans_sorted_keys(tmp_path):
    """The stored normalised plan keeps its keys sorted (f1_16 < f1_2 < f1_4 < f1_8); the rows
    follow the order the plan file declares the instances in (seed 004's fractions)."""
    path = tmp_path / "r.db"
    store = Store.open(path)
    names = ["f0_s0", "f1_16_s0", "f1_8_s0", "f1_4_s0", "f1_2_s0", "f1_s0"]
    text = "".join(f"[evaluators.{n}]\nevaluator = \"partial_filters\"\n" for n in names)
    run_id = store.create_run(name="r", plan_text=text, plan={"evaluators": {n: {} for n in sorted(names)}},
                              plan_hash="h", versions={}, device="cpu", device_name="cpu", dataset={"shape": [3, 8, 8]})
    store.add_candidates(run_id, [(0, "x", {}, {}, True, "")])
    for i, n in enumerate(sorted(names)):
        store.finish_evaluation(run_id, "x", n, "done", metrics={"val_acc": i / 10}, seed=0)
    store.close()
    _, rows = repeats(path, "val_acc")
    assert [r["group"] for r in rows] == ["f0", "f1_16", "f1_8", "f1_4", "f1_2", "f1"]
