"""The plugin tutorial's examples (docs/plugins/tutorial.md) work, through rcx's test kit
(``rcx.testing``), and the tutorial shows them exactly as they are here: it includes these
files when the site is built (pymdownx.snippets), tested below."""

from __future__ import annotations

import re
from pathlib import Path

import example_dataset
import example_evaluator
import example_space

# --8<-- [start:tests]
import pytest

from rcx.testing import check_space, plan_text


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
# --8<-- [end:tests]

HERE = Path(__file__).resolve().parent
TUTORIAL = HERE.parents[1] / "docs" / "plugins" / "tutorial.md"

@pytest.mark.parametrize("name", ["example_evaluator.py", "example_space.py", "example_dataset.py"])
def test_the_tutorial_includes_each_example_whole(name):
    """The tutorial shows each file by including it, never a copy that could drift: a python
    block holding only the snippet line that names the file (a missing file fails the build)."""
    text = TUTORIAL.read_text(encoding="utf-8")
    assert re.search(rf'```python\n--8<-- "examples/plugins/{re.escape(name)}"\n```', text), \
        f"docs/plugins/tutorial.md does not include examples/plugins/{name} in a python block"


def test_the_tutorial_shows_these_tests():
    text = TUTORIAL.read_text(encoding="utf-8")
    assert '--8<-- "examples/plugins/test_examples.py:tests"' in text
    lines = (HERE / "test_examples.py").read_text(encoding="utf-8").splitlines()
    for end in ("start", "end"):  # spelled so that these lines are no markers themselves
        assert lines.count(f"# --8<-- [{end}:tests]") == 1
