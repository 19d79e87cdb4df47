"""The command line: run, results (table/csv/json, sort, top), spaces, plugins, validate."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from rcx.cli import main

from .conftest import ROOT, tiny_plan


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    path = tiny_plan(tmp, n=5, valid_only=False, seed=1)
    assert main(["run", "--headless", str(path), "--db", str(tmp / "override.db"), "--top", "3"]) == 0
    assert not (tmp / "results.db").exists(), "--db overrides the plan's output"
    return tmp / "override.db"


def test_run_prints_progress_lines_and_top_table(tmp_path, capsys):
    path = tiny_plan(tmp_path, n=3)
    assert main(["run", "--headless", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "starting run 1" in err
    assert err.count("ridge_rfm done") == 3 and "ETA" in err  # piped: one plain line per evaluation
    assert err.count("throughput=") == 3  # the evaluator's headline metrics
    assert "top 3 by ridge_rfm.val_acc" in out
    assert "ridge_rfm.throughput" in out and "ridge_rfm.lambda" not in out  # the summary is narrow
    assert main(["run", "--headless", str(path)]) == 0
    assert "resuming run 1" in capsys.readouterr().err


def test_results_csv_sorted_by_metric(finished_db, capsys):
    assert main(["results", str(finished_db), "--format", "csv", "--sort", "val_acc"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 5
    assert {"arch", "kernel", "stride", "dilation", "params", "flops", "ridge_rfm.status",
            "ridge_rfm.val_acc"} <= set(rows[0])
    done = [float(r["ridge_rfm.val_acc"]) for r in rows if r["ridge_rfm.status"] == "done"]
    assert done == sorted(done, reverse=True), "higher is better: best first"
    statuses = [r["ridge_rfm.status"] for r in rows]
    assert statuses[: len(done)] == ["done"] * len(done), "missing values sort last"


def test_results_json_top_and_ascending(finished_db, capsys):
    assert main(["results", str(finished_db), "--format", "json", "--sort", "ridge_rfm.throughput", "--asc",
                 "--top", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    if all(r["ridge_rfm.throughput"] is not None for r in rows):
        assert rows[0]["ridge_rfm.throughput"] <= rows[1]["ridge_rfm.throughput"]


def test_results_table_and_bad_inputs(finished_db, tmp_path, capsys):
    assert main(["results", str(finished_db)]) == 0
    out = capsys.readouterr().out
    assert "ridge_rfm.val_acc" in out and "arch" in out
    assert main(["results", str(finished_db), "--sort", "nonsense"]) == 2
    assert "no column 'nonsense'" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "none.db")]) == 2
    (tmp_path / "junk.db").write_text("not sqlite at all " * 100)
    assert main(["results", str(tmp_path / "junk.db")]) == 2
    assert "not an rcx results database" in capsys.readouterr().err


def test_broken_plan_exits_2_and_writes_nothing(tmp_path, capsys):
    path = tiny_plan(tmp_path)
    path.write_text(path.read_text().replace('name = "ksd"', 'name = "kds"'))
    assert main(["run", "--headless", str(path)]) == 2
    err = capsys.readouterr().err
    assert "space.name" in err and "unknown space 'kds'" in err and "ksd" in err
    assert not (tmp_path / "results.db").exists()


def test_dataset_error_exits_2_and_writes_nothing(tmp_path, capsys):
    path = tiny_plan(tmp_path)
    text = path.read_text().replace('name = "synthetic"\nn_train = 120\nn_test = 80',
                                    f'name = "cifar10"\nroot = "{tmp_path}/nodata"')
    path.write_text(text)
    assert main(["run", "--headless", str(path)]) == 2
    err = capsys.readouterr().err
    assert "download" in err and "nodata" in err
    assert not (tmp_path / "results.db").exists()


def test_spaces_plugins_validate(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    assert "ksd" in out and "46,656" in out and "depthmult" in out
    assert main(["plugins", "-v"]) == 0
    out = capsys.readouterr().out
    assert "ridge_rfm" in out and "rcx 0.1.0" in out and "synthetic" in out and "val_acc" in out and "higher" in out
    assert main(["validate", str(ROOT / "examples" / "quickstart.toml")]) == 0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wide_tables_fit_the_terminal(monkeypatch):
    from rcx import termtable

    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setenv("LINES", "24")
    cols = ["arch", "kernel", "model.status", "model.val_acc", "model.seconds", "notes"]
    rows = [{"arch": f"k{i}-3-3_s1-1-1", "kernel": "3,3,3", "model.status": "done", "model.val_acc": 0.5 + i / 100,
             "model.seconds": 1234.5, "notes": "x" * 30} for i in range(3)]
    term = Terminal()
    dropped = termtable.print_table(cols, rows, "t", term, priority=["arch", "model.status", "model.val_acc"])
    lines = re.sub(r"\x1b\[[0-9;]*m", "", term.getvalue()).splitlines()  # without colour codes
    assert dropped and "arch" not in dropped and "model.val_acc" not in dropped
    assert max(len(line) for line in lines[:-1]) <= 60
    assert "k2-3-3_s1-1-1" in term.getvalue() and "0.5200" in term.getvalue()  # values are never cut
    assert f"{len(dropped)} more columns not shown" in lines[-1]
    piped = io.StringIO()
    assert termtable.print_table(cols, rows, "t", piped, priority=["arch"]) == []  # piped: every column


def test_results_table_says_pending_for_evaluations_not_yet_run(tmp_path, capsys):
    """A stopped run: two of four candidates were never evaluated. The terminal table says
    ``pending`` as the TUI does (not an empty cell); CSV and JSON keep the missing value."""
    import sqlite3

    from rcx.core.store import Store

    db = tmp_path / "results.db"
    assert main(["run", "--headless", "-q", str(tiny_plan(tmp_path, n=4))]) == 0
    with sqlite3.connect(db) as conn:
        waiting = [a for (a,) in conn.execute("SELECT arch FROM evaluations ORDER BY arch LIMIT 2")]
        conn.executemany("DELETE FROM evaluations WHERE arch=?", [(a,) for a in waiting])
    conn.close()
    store = Store.open(db)
    store.set_run_state(1, "interrupted")  # as a stopped run leaves it
    store.close()
    capsys.readouterr()

    assert main(["results", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    for arch in waiting:
        line = next(ln for ln in lines if arch[:12] in ln)
        assert "pending" in line, line
    assert sum("pending" in ln for ln in lines) == 2, lines
    assert main(["results", str(db), "--format", "json"]) == 0
    rows = {r["arch"]: r for r in json.loads(capsys.readouterr().out)}
    assert [rows[a]["ridge_rfm.status"] for a in waiting] == [None, None]
