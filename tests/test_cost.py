"""``rcx analyze cost``: seconds per architecture against Spearman, table and charts (issue 20)."""

from __future__ import annotations

import json
import math
import statistics
import xml.dom.minidom

import pytest

from rcx.analysis.cost import CostRow, evaluation_costs, svg_chart
from rcx.cli import main
from rcx.core.store import Store

from .conftest import tiny_plan
from .test_analysis_common import SECOND_EVALUATOR


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cost-run")
    plan = tiny_plan(tmp, n=6, trials=1, extra=SECOND_EVALUATOR)
    assert main(["run", "--headless", str(plan), "-q", "--top", "0"]) == 0
    return tmp / "results.db"


def test_costs_prefer_cpu_seconds_and_skip_unfinished(tmp_path):
    path = tmp_path / "r.db"
    store = Store.open(path)
    run_id = store.create_run(name="r", plan_text="", plan={"evaluators": {"a": {}, "b": {}}}, plan_hash="h",
                              versions={}, device="cpu", device_name="cpu", dataset={"shape": [3, 8, 8]})
    store.add_candidates(run_id, [(i, f"x{i}", {}, {}, True, "") for i in range(3)])
    for i, (wall, cpu) in enumerate(((10.0, 1.0), (20.0, 2.0), (30.0, 9.0))):
        store.finish_evaluation(run_id, f"x{i}", "a", "done", metrics={"v": 1.0}, seed=0, seconds=wall,
                                extra={"cpu_seconds": cpu})
        store.finish_evaluation(run_id, f"x{i}", "b", "done" if i else "failed", metrics={"v": 1.0}, seed=0,
                                seconds=wall)
    store.close()
    assert evaluation_costs([path]) == {"a": (2.0, "cpu"), "b": (25.0, "wall")}


def test_cli_rows_cheapest_first_with_the_leaderboards_spearman(run_db, tmp_path, capsys):
    svg = tmp_path / "cost.svg"
    argv = ["analyze", "cost", str(run_db), "--truth", "ridge_rfm.val_acc", "--metrics", "ridge_loo.val_acc,params",
            "--boot", "50", "--format", "json", "--save", str(svg)]
    assert main(argv) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    rows = {r["metric"]: r for r in doc["rows"]}
    assert [r["metric"] for r in doc["rows"]] == ["params", "ridge_loo.val_acc"]  # params costs 0
    store = Store.open_readonly(run_db)
    walls = [e["seconds"] for e in store.evaluations(store.run(None).id) if e["evaluator"] == "ridge_loo"]
    store.close()
    assert rows["ridge_loo.val_acc"]["seconds"] == pytest.approx(statistics.median(walls))
    assert rows["ridge_loo.val_acc"]["cost"] == "wall" and rows["params"]["cost"] == "none"
    assert main(["analyze", "proxies", str(run_db), "--truth", "ridge_rfm.val_acc", "--metrics", "ridge_loo.val_acc",
                 "--boot", "50", "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)["rows"][0]
    assert rows["ridge_loo.val_acc"]["spearman"] == pytest.approx(board["spearman"])
    doc = xml.dom.minidom.parse(str(svg))
    assert len(doc.getElementsByTagName("circle")) == 2


def test_svg_chart_places_points_by_cost_and_spearman():
    rows = [CostRow("cheap", "proxy", 10, 0.2, 0.1, 0.3, 0.1, "cpu"),
            CostRow("dear", "proxy", 10, 0.8, 0.7, 0.9, 100.0, "cpu"),
            CostRow("none", "proxy", 10, math.nan, math.nan, math.nan, 1.0, "cpu")]
    doc = xml.dom.minidom.parseString(svg_chart(rows, "t"))
    circles = [(float(c.getAttribute("cx")), float(c.getAttribute("cy"))) for c in doc.getElementsByTagName("circle")]
    assert len(circles) == 2  # an undefined Spearman is not drawn
    (x_cheap, y_cheap), (x_dear, y_dear) = circles
    assert x_cheap < x_dear and y_dear < y_cheap  # more cost to the right, higher Spearman up
