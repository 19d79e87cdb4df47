"""``rcx results DB --curves ARCH``: a finished candidate's learning curves (issue 20)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from rcx.analysis.curves import curve_plot, curve_rows, read_curves, show_curves
from rcx.cli import main
from rcx.core.store import Store
from rcx.termtable import format_value

from .tui.conftest import fixed_results

POINTS = [(10, 1.0, {"train_loss": 2.1, "lr": 0.01, "val_acc": 0.31}),
          (20, 2.0, {"train_loss": 1.7, "lr": 0.005, "val_acc": 0.42}),
          (30, 3.0, {"train_loss": 1.5, "lr": 0.0, "val_acc": 0.47})]


@pytest.fixture
def curved(tmp_path, registry):
    """The fixed results file with a three-point curve on its first candidate, and that id."""
    path = fixed_results(tmp_path / "r.db", registry)
    store = Store.open(path)
    arch = store.candidates(1)[0]["arch"]
    for step, epoch, metrics in POINTS:
        store.add_curve_point(1, arch, "ridge_rfm", step, epoch, metrics)
    store.close()
    return path, arch


def test_read_curves_gives_the_points_in_step_order(curved):
    path, arch = curved
    curves = read_curves(path, arch)
    assert list(curves) == ["ridge_rfm"]
    assert [p["val_acc"] for p in curves["ridge_rfm"]] == [0.31, 0.42, 0.47]
    columns, rows = curve_rows(curves)
    assert columns[:5] == ["evaluator", "epoch", "step", "train_loss", "val_acc"] and len(rows) == 3


def test_csv_and_json_carry_every_point(curved, capsys):
    path, arch = curved
    assert main(["results", str(path), "--curves", arch, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(r["train_loss"]) for r in rows] == [2.1, 1.7, 1.5] and rows[0]["evaluator"] == "ridge_rfm"
    assert main(["results", str(path), "--curves", arch, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["arch"] == arch and [r["step"] for r in doc["rows"]] == [10, 20, 30]


def test_the_plot_draws_both_series_on_their_axes(curved):
    path, arch = curved
    text = curve_plot(read_curves(path, arch), "t", width=70, height=18)
    assert "ridge_rfm train_loss" in text and "ridge_rfm val_acc" in text
    assert "\x1b[" not in text  # uncoloured unless asked
    right = [line.rsplit("├", 1)[1].strip() for line in text.splitlines() if "├" in line]
    left = [line.split("┤", 1)[0].strip() for line in text.splitlines() if "┤" in line]
    assert right and max(map(float, right)) == 1.0  # val_acc on the right axis, an accuracy's scale
    assert left and max(map(float, left)) <= 2.1 and min(map(float, left)) == 0  # train_loss on the left


def _plot_rows(text: str) -> list[str]:
    """The lines inside the plot's frame, without the legend's."""
    return [line for line in text.splitlines() if ("│" in line or "┤" in line) and "train_loss" not in line
            and "val_acc" not in line]


@pytest.mark.parametrize("curve", [
    [{"epoch": 1.0, "train_loss": 2.755, "val_acc": 0.1}],
    [{"epoch": 1.0, "train_loss": 3.288, "val_acc": 0.14}, {"epoch": 2.0, "train_loss": 3.371, "val_acc": 0.15}],
])
def test_a_short_curve_shows_loss_and_accuracy_apart(curve):
    """One or two epochs (the studies' short training): each series scaled to its own range
    put the loss and the accuracy on the same cells, one hiding the other."""
    rows = "\n".join(_plot_rows(curve_plot({"trained": curve}, "t", width=70, height=16)))
    assert "•" in rows and "*" in rows


def test_axis_labels_are_round_and_evenly_spaced():
    """Every tick label is a round value one step from the next (plotext's own ticks put 3.371,
    3.357, 3.329 on consecutive rows)."""
    curve = [{"epoch": 1.0, "train_loss": 3.288, "val_acc": 0.14}, {"epoch": 2.0, "train_loss": 3.371, "val_acc": 0.15}]
    for height in (10, 16, 22):
        lines = curve_plot({"trained": curve}, "t", width=100, height=height).splitlines()
        left = [line.split("┤", 1)[0] for line in lines if "┤" in line]
        right = [line.rsplit("├", 1)[1] for line in lines if "├" in line]
        for labels in (left, right):
            values = [float(label.strip().replace(",", "")) for label in labels]
            assert len(values) >= 2, (height, lines)
            steps = {round(a - b, 9) for a, b in zip(values, values[1:])}
            assert len(steps) == 1 and all(len(label.strip()) <= 4 for label in labels), (height, labels)


def test_table_with_plot_and_without_a_curve(curved, tmp_path):
    path, arch = curved
    out = io.StringIO()
    assert show_curves(path, arch, plot=True, stream=out) == 3
    assert format_value(1.7) in out.getvalue() and "epoch" in out.getvalue().splitlines()[-1]
    other = Store.open_readonly(path).candidates(1)[1]["arch"]
    out = io.StringIO()
    assert show_curves(path, other, stream=out) == 0 and "no learning curve" in out.getvalue()


def test_an_unknown_arch_is_a_usage_error(curved, capsys):
    path, _ = curved
    assert main(["results", str(path), "--curves", "not-an-arch"]) == 2
    assert "no architecture 'not-an-arch'" in capsys.readouterr().err
