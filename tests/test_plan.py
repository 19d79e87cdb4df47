"""Plan validation: every problem at once, with key paths and lines; examples validate."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

from rcx.core.plan import PlanError, key_lines, load_plan, parse_plan

from .conftest import ROOT, tiny_plan

GOOD = """
seed = 1
device = "cpu"

[dataset]
name = "synthetic"

[space]
name = "ksd"

[sampler]
kind = "random"
n = 5

[evaluators.ridge_rfm]
trials = 2
"""


def problems(text: str, registry) -> list:
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry, source="p.toml")
    return info.value.problems


def test_good_plan_fills_defaults(registry):
    plan = parse_plan(GOOD, registry, source="runs/p.toml")
    assert plan.seed == 1 and plan.device == "cpu"
    assert {k: v for k, v in plan.sampler.items() if v is not None} == {"kind": "random", "n": 5, "valid_only": False}
    (ev,) = plan.evaluators
    assert ev.instance == ev.plugin == "ridge_rfm"
    assert ev.options["trials"] == 2 and ev.options["lambda"] == 1.0
    assert plan.output == Path("runs/p.db")
    assert plan.space_options["channels"] == 32


def test_hash_ignores_output_and_name_but_not_options(registry):
    a = parse_plan(GOOD, registry, source="a.toml")
    b = parse_plan('name = "other"\noutput = "x.db"\n' + GOOD, registry, source="b.toml")
    c = parse_plan(GOOD.replace("trials = 2", "trials = 3"), registry)
    assert a.hash == b.hash
    assert a.hash != c.hash


def test_every_problem_reported_with_lines(registry):
    text = GOOD.replace("trials = 2", "trials = 0\nbogus = 1\nlambda = \"best\"").replace(
        'name = "ksd"', 'name = "ksd"\nchannels = "many"'
    ).replace('device = "cpu"', 'device = "tpu"') + "\n[extra]\nx = 1\n"
    found = {p.path: p for p in problems(text, registry)}
    assert set(found) == {
        "device", "space.channels", "evaluators.ridge_rfm.trials", "evaluators.ridge_rfm.bogus",
        "evaluators.ridge_rfm.lambda", "extra",
    }
    lines = text.splitlines()
    for p in found.values():
        assert p.line > 0
        assert p.path.rpartition(".")[2] in lines[p.line - 1] or p.path in lines[p.line - 1]
    bogus = found["evaluators.ridge_rfm.bogus"].message
    assert "known:" in bogus and "trials" in bogus


def test_unknown_names_list_the_known_ones(registry):
    text = GOOD.replace('name = "synthetic"', 'name = "imagenet"')
    text = text.replace("[evaluators.ridge_rfm]", "[evaluators.magic]")
    found = {p.path: p.message for p in problems(text, registry)}
    assert "synthetic" in found["dataset.name"] and "cifar10" in found["dataset.name"]
    assert "ridge_rfm" in found["evaluators.magic"]


def test_evaluator_instance_with_explicit_plugin(registry):
    text = GOOD + '\n[evaluators.ridge_loo]\nevaluator = "ridge_rfm"\nlambda = "loo"\n'
    plan = parse_plan(text, registry)
    assert [(e.instance, e.plugin) for e in plan.evaluators] == [("ridge_rfm", "ridge_rfm"), ("ridge_loo", "ridge_rfm")]
    assert plan.evaluators[1].options["lambda"] == "loo"


def test_toml_syntax_error_has_line_and_column(registry):
    (p,) = problems('seed = 1\n[dataset\nname = "x"\n', registry)
    assert p.line == 2 and "line 2, column" in p.message


def test_missing_tables_and_random_without_n(registry):
    found = {p.path: p.message for p in problems('[sampler]\nkind = "random"\n', registry)}
    assert {"dataset", "space", "evaluators", "sampler.n"} <= set(found)
    assert "ksd" in found["space"]


def test_wrong_types_are_reported_not_coerced(registry):
    text = GOOD.replace("trials = 2", 'trials = 2.5\nstandardize = "yes"').replace("seed = 1", "seed = true")
    found = {p.path for p in problems(text, registry)}
    assert found == {"seed", "evaluators.ridge_rfm.trials", "evaluators.ridge_rfm.standardize"}


def test_evaluator_sizes_cross_checked_against_dataset(registry):
    text = GOOD.replace('name = "synthetic"', 'name = "synthetic"\ntrain_size = 100').replace(
        "trials = 2", "train_size = 200"
    )
    found = {p.path: p.message for p in problems(text, registry)}
    assert "dataset.train_size" in found["evaluators.ridge_rfm.train_size"]


def test_unreadable_plan(tmp_path, registry):
    with pytest.raises(PlanError, match="cannot read"):
        load_plan(tmp_path / "missing.toml", registry)


def test_key_lines():
    lines = key_lines('a = 1\n[t]\nb = 2\n[t.u]\n"c" = 3\n')
    assert lines == {"a": 1, "t": 2, "t.b": 3, "t.u": 4, "t.u.c": 5}


NEEDS = re.compile(r"^# needs: ([\w.-]+(?:, [\w.-]+)*)$", re.MULTILINE)


def missing_distributions(plan_text: str) -> list[str]:
    """Plugin distributions a plan declares (a ``# needs: rcx-zerocost, ...`` line) that are
    not installed here."""
    missing = []
    for match in NEEDS.finditer(plan_text):
        for dist in match.group(1).split(", "):
            try:
                metadata.distribution(dist)
            except metadata.PackageNotFoundError:
                missing.append(dist)
    return missing


@pytest.mark.parametrize("example",
                         sorted([*(ROOT / "examples").glob("*.toml"), *(ROOT / "studies" / "plans").glob("*.toml")]),
                         ids=lambda p: p.name)
def test_examples_validate(example, registry):
    if missing := missing_distributions(example.read_text()):
        pytest.skip(f"{example.name} needs the plugin distribution(s) {', '.join(missing)}, not installed here")
    plan = load_plan(example, registry)
    assert plan.evaluators


def test_needs_line_names_missing_distributions():
    assert missing_distributions("# needs: rcx-naswot\nname = 'x'\n") == []  # installed for the suite
    assert missing_distributions("# needs: rcx-naswot, rcx-no-such-plugin\n") == ["rcx-no-such-plugin"]
    assert missing_distributions("# a comment that needs: nothing\n") == []


def test_tiny_plan_fixture_validates(tmp_path, registry):
    assert load_plan(tiny_plan(tmp_path), registry).sampler["n"] == 4
