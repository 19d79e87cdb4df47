"""``rcx analyze cost``: seconds per architecture against Spearman, table and charts (issue 20)."""

from __future__ import annotations

import json
import math
import statistics
import xml.dom.minidom

import pytest

from rcx.analysis.cost import CostRow, evaluation_costs, run_threads, svg_chart, terminal_chart
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


def _store(path, device_name="cpu (x86_64, 2 threads, AVX2)"):
    store = Store.open(path)
    run_id = store.create_run(name="r", plan_text="", plan={"evaluators": {"a": {}, "b": {}, "c": {}}}, plan_hash="h",
                              versions={}, device="cpu", device_name=device_name, dataset={"shape": [3, 8, 8]})
    store.add_candidates(run_id, [(i, f"x{i}", {}, {}, True, "") for i in range(3)])
    return store, run_id


def test_costs_are_cpu_seconds_and_skip_unfinished(tmp_path):
    path = tmp_path / "r.db"
    store, run_id = _store(path)
    for i, (wall, cpu) in enumerate(((10.0, 1.0), (20.0, 2.0), (30.0, 9.0))):
        store.finish_evaluation(run_id, f"x{i}", "a", "done", metrics={"v": 1.0}, seed=0, seconds=wall, cpu_s=cpu)
        store.finish_evaluation(run_id, f"x{i}", "b", "done" if i else "failed", metrics={"v": 1.0}, seed=0,
                                seconds=wall, cpu_s=cpu * 3)
        store.finish_evaluation(run_id, f"x{i}", "c", "done", metrics={"v": 1.0}, seed=0, seconds=wall,
                                extra={"cpu_seconds": cpu + 1})  # a training evaluator's own count, before cpu_s
    store.close()
    assert evaluation_costs([path]) == {"a": (2.0, "cpu"), "b": (16.5, "cpu"), "c": (3.0, "cpu")}


def test_old_files_fall_back_to_wall_time_times_threads(tmp_path):
    path = tmp_path / "r.db"
    store, run_id = _store(path)
    for i, wall in enumerate((10.0, 20.0, 30.0)):
        store.finish_evaluation(run_id, f"x{i}", "a", "done", metrics={"v": 1.0}, seed=0, seconds=wall)
        store.finish_evaluation(run_id, f"x{i}", "b", "done", metrics={"v": 1.0}, seed=0, seconds=wall,
                                cpu_s=None if i == 0 else i * 2.0)  # resumed by an rcx that measures
    store.close()
    assert evaluation_costs([path]) == {"a": (40.0, "wall x2"), "b": (3.0, "cpu (2 of 3)")}
    assert run_threads("cpu (x86_64, 1 threads, AVX512)") == 1 and run_threads("NVIDIA H100 80GB HBM3") == 1


def test_cli_rows_cheapest_first_with_the_leaderboards_spearman(run_db, tmp_path, capsys):
    svg = tmp_path / "cost.svg"
    argv = ["analyze", "cost", str(run_db), "--truth", "ridge_rfm.val_acc", "--metrics", "ridge_loo.val_acc,params",
            "--boot", "50", "--format", "json", "--save", str(svg)]
    assert main(argv) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    rows = {r["metric"]: r for r in doc["rows"]}
    assert [r["metric"] for r in doc["rows"]] == ["params", "ridge_loo.val_acc"]  # params costs 0
    store = Store.open_readonly(run_db)
    cpu = [e["cpu_s"] for e in store.evaluations(store.run(None).id) if e["evaluator"] == "ridge_loo"]
    store.close()
    assert rows["ridge_loo.val_acc"]["core_seconds"] == pytest.approx(statistics.median(cpu)) and min(cpu) > 0
    assert rows["ridge_loo.val_acc"]["cost"] == "cpu" and rows["params"]["cost"] == "none"
    assert doc["meta"]["wall_fallback"] == []
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


ROWS = [CostRow("params", "baseline", 10, 0.7, 0.6, 0.8, 0.0, "none"),
        CostRow("cheap.score", "proxy", 10, 0.2, 0.1, 0.3, 0.1, "cpu"),
        CostRow("dear.val_acc", "proxy", 10, 0.8, 0.7, 0.9, 100.0, "cpu")]


def test_the_terminal_chart_renders_every_score():
    import io

    import plotext as plt

    text = plt.uncolorize(terminal_chart(ROWS, "cost", stream=io.StringIO()))
    plot, legend = text.rsplit("Spearman", 1)[0], text.splitlines()[-1]
    assert "a params" in legend and "b cheap.score" in legend and "c dear.val_acc" in legend
    assert all(mark in plot for mark in "abc") and "100" in plot and "0.1" in plot  # decade ticks in seconds


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_cli_saves_the_chart_naming_every_score(run_db, tmp_path, capsys, suffix):
    image = tmp_path / f"cost{suffix}"
    argv = ["analyze", "cost", str(run_db), "--truth", "ridge_rfm.val_acc", "--metrics", "ridge_loo.val_acc,params",
            "--boot", "20", "--plot", "--save", str(image)]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "a params" in out and "b ridge_loo.val_acc" in out  # the terminal chart's legend
    if suffix == ".svg":
        texts = [t.firstChild.data for t in xml.dom.minidom.parse(str(image)).getElementsByTagName("text")]
    else:
        from PIL import Image

        with Image.open(image) as im:
            assert im.format == "PNG" and im.size == (900, 560)
            texts = [im.text["Description"]]
    assert all(any(name in t for t in texts) for name in ("params", "ridge_loo.val_acc"))


def test_an_unknown_image_format_is_a_usage_error(run_db, tmp_path, capsys):
    argv = ["analyze", "cost", str(run_db), "--truth", "ridge_rfm.val_acc", "--metrics", "params", "--boot", "0",
            "--save", str(tmp_path / "cost.jpg")]
    assert main(argv) == 2
    assert ".svg or .png" in capsys.readouterr().err and not (tmp_path / "cost.jpg").exists()


def _trained_db(path, n=12):
    """A run of one `trained` instance over ``n`` candidates with 3-epoch curves whose epoch-1
    accuracy (and epoch-2 loss) ranks the candidates in reverse and whose epoch-2 accuracy (and
    running loss sum) ranks them in order."""
    store = Store.open(path)
    run_id = store.create_run(name="r", plan_text="", plan={"evaluators": {"t": {"evaluator": "trained"}}},
                              plan_hash="h", versions={}, device="cpu", device_name="cpu (x86_64, 1 threads, AVX2)",
                              dataset={"shape": [3, 8, 8]})
    store.add_candidates(run_id, [(i, f"x{i}", {}, {}, True, "") for i in range(n)])
    for i in range(n):
        losses = [2.0 - 0.01 * i, 1.5 + 0.005 * i, 1.0 - 0.01 * i]
        accs = [0.5 - 0.01 * i, 0.3 + 0.01 * i, 0.6 + 0.01 * i]
        for epoch, (loss, acc) in enumerate(zip(losses, accs), start=1):
            store.add_curve_point(run_id, f"x{i}", "t", 10 * epoch, float(epoch),
                                  {"train_loss": loss, "val_acc": acc, "lr": 0.1})
        store.finish_evaluation(run_id, f"x{i}", "t", "done", seed=0, seconds=9.0, cpu_s=30.0,
                                metrics={"val_acc": accs[-1], "train_loss": losses[-1], "tse": sum(losses)})
    store.close()
    return path


def test_epochs_rank_each_epoch_of_a_training_at_its_share_of_the_cost(tmp_path, capsys):
    db = _trained_db(tmp_path / "t.db")
    argv = ["analyze", "cost", str(db), "--truth", "t.val_acc", "--epochs", "--boot", "20", "--format", "json"]
    assert main(argv) == 0, capsys.readouterr().err
    rows = {r["metric"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == {"t.val_acc", "t.val_acc@1", "t.val_acc@2", "params", "flops"}  # the last epoch is t.val_acc
    assert rows["t.val_acc@1"]["spearman"] == pytest.approx(-1.0)
    assert rows["t.val_acc@2"]["spearman"] == pytest.approx(1.0)
    assert rows["t.val_acc@1"]["core_seconds"] == pytest.approx(10.0)
    assert rows["t.val_acc@1"]["cost"] == "cpu, 0.333333 of it"
    assert rows["t.val_acc@2"]["core_seconds"] == pytest.approx(20.0) and rows["t.val_acc"]["core_seconds"] == 30.0
    # TSE by epoch: the running sum of the training losses, lower is better (so negated)
    argv[argv.index("--format"):argv.index("--format")] = ["--metrics", "t.tse@1,t.tse@2,t.train_loss@2"]
    assert main(argv) == 0, capsys.readouterr().err
    rows = {r["metric"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["t.tse@1"]["spearman"] == pytest.approx(1.0)  # lower epoch-1 loss for the better-ranked ones
    assert rows["t.tse@2"]["spearman"] == pytest.approx(1.0) and rows["t.tse@2"]["n"] == 12
    assert rows["t.train_loss@2"]["spearman"] == pytest.approx(-1.0)  # epoch 2's loss alone ranks backwards


def test_the_leaderboard_ranks_the_epochs_too(tmp_path, capsys):
    db = _trained_db(tmp_path / "t.db")
    assert main(["analyze", "proxies", str(db), "--truth", "t.val_acc", "--epochs", "--boot", "0", "--n-arch", "5",
                 "--runs", "10", "--format", "json"]) == 0, capsys.readouterr().err
    rows = {r["metric"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert {"t.val_acc@1", "t.val_acc@2", "t.train_loss@1", "t.train_loss@2"} <= set(rows)
    assert rows["t.val_acc@1"]["spearman"] == pytest.approx(-1.0) and rows["t.train_loss@1"]["spearman"] == 1.0


def test_epochs_without_a_curve_is_a_usage_error(run_db, capsys):
    assert main(["analyze", "cost", str(run_db), "--truth", "ridge_rfm.val_acc", "--epochs"]) == 2
    assert "no learning curve" in capsys.readouterr().err
