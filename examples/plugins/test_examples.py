"""The plugin guide's examples (README, "Writing a plugin") work, through rcx's test kit
(``rcx.testing``), and the README shows them exactly as they are here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import example_dataset
import example_evaluator
import example_space
from rcx.testing import check_space, plan_text

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"


@pytest.fixture
def rcx_plugins():
    return [example_evaluator, example_space, example_dataset]


def test_the_evaluator_scores_every_candidate(rcx_run):
    table = rcx_run(["mean_activation"], n=3)
    assert len(table.rows) == 3
    assert all(r["mean_activation.status"] == "done" and r["mean_activation.mean_abs"] > 0 for r in table.rows)
    assert table.higher_is_better["mean_activation.mean_abs"] is True


def test_the_space_keeps_rcx_contract_and_runs(rcx_registry, rcx_run):
    space = rcx_registry.get("space", "width_stack")(layers=2, widths=[2, 4, 8])
    assert len(space) == 9
    check_space(space, in_shape=(3, 8, 8))
    table = rcx_run(["mean_activation"], space="width_stack", space_options={"widths": [2, 4]}, n=4)
    assert sorted(r["arch"] for r in table.rows) == ["w2-2", "w2-4", "w4-2", "w4-4"]


def test_a_value_error_in_the_space_becomes_a_plan_error(rcx_registry):
    from rcx.core.plan import PlanError, parse_plan

    with pytest.raises(PlanError, match="widths must not repeat"):
        parse_plan(plan_text(["mean_activation"], space="width_stack", space_options={"widths": [4, 4]}),
                   rcx_registry)


def test_the_dataset_serves_a_run(rcx_run):
    table = rcx_run(["mean_activation"], dataset="bright_dark", dataset_options={"n": 32},
                    space="width_stack", n=2)
    assert len(table.rows) == 2 and all(r["mean_activation.status"] == "done" for r in table.rows)


@pytest.mark.parametrize("name", ["example_evaluator.py", "example_space.py", "example_dataset.py"])
def test_the_readme_shows_each_example_verbatim(name):
    text = README.read_text(encoding="utf-8")
    block = re.search(rf"<!-- {re.escape(name)} -->\n```python\n(.*?)```", text, re.S)
    assert block, f"README.md has no python block after <!-- {name} -->"
    assert block.group(1) == (HERE / name).read_text(encoding="utf-8"), f"README's copy of {name} differs from the file"
