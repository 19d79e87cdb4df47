"""Shared analysis loading (CSV values joined by architecture id) and both commands end to end
on a database written by a real run: ridge-RFM twice, with different options, on synthetic data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scipy import stats

from rcx.analysis.common import AnalysisError, join_csv, load_table, read_value_csv
from rcx.cli import main

from .analysis_store import hand_store
from .conftest import tiny_plan

SECOND_EVALUATOR = """
[evaluators.ridge_loo]
evaluator = "ridge_rfm"
trials = 1
train_size = 100
val_size = 60
batch_size = 32
dtype = "float32"
lambda = "loo"
standardize = true
"""


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analysis-run")
    plan = tiny_plan(tmp, n=6, trials=1, extra=SECOND_EVALUATOR)
    assert main(["run", "--headless", str(plan), "-q", "--top", "0"]) == 0
    return tmp / "results.db"


def test_read_value_csv(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("arch,accuracy,loss\n|nor_conv_3x3~0|+|skip_connect~0|,93.5,0.2\nb,,1e-3\n\n")
    assert read_value_csv(path) == {"accuracy": {"|nor_conv_3x3~0|+|skip_connect~0|": 93.5, "b": None},
                                    "loss": {"|nor_conv_3x3~0|+|skip_connect~0|": 0.2, "b": 0.001}}


@pytest.mark.parametrize("text, message", [
    ("", "empty CSV"),
    ("name,accuracy\na,1\n", "'arch' column"),
    ("arch\na\n", "'arch' column"),
    ("arch,acc\na,1\nb\n", "v.csv:3: 1 cells"),
    ("arch,acc\na,1\na,2\n", "v.csv:3: architecture 'a' appears twice"),
    ("arch,acc\na,high\n", "v.csv:2: acc value 'high' is not a number"),
    ("arch,acc,acc\na,1,2\n", "distinct"),
])
def test_bad_csv_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "v.csv"
    path.write_text(text)
    with pytest.raises(AnalysisError, match=message):
        read_value_csv(path)


def test_binary_or_missing_csv(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(AnalysisError, match="not a readable CSV"):
        read_value_csv(tmp_path / "bin.csv")
    with pytest.raises(AnalysisError, match="cannot read"):
        read_value_csv(tmp_path / "missing.csv")


def test_join_by_architecture_id(tmp_path):
    db = hand_store(tmp_path / "h.db", [{"arch": "a", "proxy": 0.1}, {"arch": "b", "proxy": 0.2}])
    table, _ = load_table(db)
    (tmp_path / "t.csv").write_text("arch,accuracy\nb,80\nzzz,1\n")
    joined, cols = join_csv(table, tmp_path / "t.csv")
    assert cols == ["accuracy"] and joined.columns[-1] == "accuracy" and "accuracy" not in table.columns
    assert {r["arch"]: r["accuracy"] for r in joined.rows} == {"a": None, "b": 80.0}
    (tmp_path / "clash.csv").write_text("arch,params\na,1\n")
    with pytest.raises(AnalysisError, match="'params' already exists"):
        join_csv(table, tmp_path / "clash.csv")
    (tmp_path / "other.csv").write_text("arch,accuracy\nx,1\ny,2\n")
    with pytest.raises(AnalysisError, match="none of its 2 architecture ids occurs in the run"):
        join_csv(table, tmp_path / "other.csv")


def test_corr_and_select_on_a_real_run(run_db, tmp_path, capsys):
    table, run_id = load_table(run_db)
    done = [r for r in table.rows if r["ridge_rfm.status"] == "done" and r["ridge_loo.status"] == "done"]
    assert run_id == 1 and len(done) >= 3
    assert main(["analyze", "corr", str(run_db), "--x", "ridge_rfm.val_acc", "--y", "ridge_loo.val_acc",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    x = [r["ridge_rfm.val_acc"] for r in done]
    y = [r["ridge_loo.val_acc"] for r in done]
    assert doc["rows"][0]["n"] == len(done)
    assert doc["rows"][0]["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic)
    # a user CSV as the truth: here the parameter count, so a params-based score is perfect
    truth = tmp_path / "truth.csv"
    truth.write_text("arch,accuracy\n" + "".join(f"{r['arch']},{r['params']}\n" for r in table.rows))
    assert main(["analyze", "select", str(run_db), "--score", "ridge_rfm.params", "--higher-is-better",
                 "--truth-csv", str(truth), "--n-arch", f"2,{len(done)}", "--runs", "50", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    optimal = {r["n_arch"]: r["mean"] for r in rows if r["method"] == "optimal"}
    picks = {r["n_arch"]: r["mean"] for r in rows if r["method"] == "ridge_rfm.params"}
    assert picks == optimal and optimal[len(done)] == max(r["params"] for r in done)
    assert main(["analyze", "corr", str(run_db), "--csv", str(truth), "--x", "ridge_rfm.val_acc", "--y", "accuracy",
                 "--by", "stride", "--plot"]) == 0
    assert "correlation of ridge_rfm.val_acc and accuracy" in capsys.readouterr().out


def test_analyze_parsers_import_no_tui_or_scipy():
    code = ("import sys, rcx.cli\nrcx.cli.build_parser()\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext', 'textual_plotext', 'scipy')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
