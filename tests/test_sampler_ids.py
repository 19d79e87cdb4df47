"""The ``ids`` sampler: the architectures a plan names, from the plan or a CSV file."""

from __future__ import annotations

import hashlib
import json

import pytest

from rcx.core.plan import PlanError, load_plan, parse_plan
from rcx.core.results import results_table
from rcx.core.runner import Runner
from rcx.core.store import Store

from .conftest import tiny_plan

PLAN = """
seed = 1
device = "cpu"

[dataset]
name = "synthetic"

[space]
name = "ksd"
layers = 2

[sampler]
kind = "ids"
{sampler}

[evaluators.ridge_rfm]
trials = 1
"""


def run_table(plan, registry):
    store = Store.open(plan.output)
    try:
        return results_table(store, Runner(plan, registry).run(store), registry)
    finally:
        store.close()


def ids_plan(sampler: str) -> str:
    return PLAN.format(sampler=sampler)


def problems(text: str, registry, source: str = "p.toml") -> list:
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry, source=source)
    return info.value.problems


def test_ids_in_the_plan_keep_their_order_and_become_canonical(registry):
    space = registry.get("space", "ksd")(layers=2)
    ids = [space.arch_at(i).id for i in (7, 3, 11)]
    plan = parse_plan(ids_plan(f"ids = {json.dumps(ids + [ids[0]])}"), registry)
    assert plan.sampler["ids"] == ids  # the repeated id is kept once, at its first place


def test_malformed_ids_are_problems_at_their_own_lines(registry):
    space = registry.get("space", "ksd")(layers=2)
    good = space.arch_at(0).id
    text = ids_plan(f'ids = [\n  "{good}",\n  "nonsense",\n  "k3s1d1",\n]')
    found = problems(text, registry)
    lines = text.splitlines()
    assert [p.path for p in found] == ["sampler.ids[1]", "sampler.ids[2]"]
    assert "'nonsense'" in found[0].message and "ksd" in found[0].message
    assert lines[found[0].line - 1].strip() == '"nonsense",'
    assert lines[found[1].line - 1].strip() == '"k3s1d1",'


def test_ids_need_exactly_one_source_and_only_the_ids_kind_reads_them(registry, tmp_path):
    assert [p.path for p in problems(ids_plan(""), registry)] == ["sampler"]
    both = problems(ids_plan('ids = ["a"]\nfile = "x.csv"'), registry)
    assert [p.path for p in both] == ["sampler"]
    stray = problems(ids_plan('ids = ["a"]').replace('kind = "ids"', 'kind = "random"\nn = 2'), registry)
    assert [p.path for p in stray] == ["sampler.ids"] and "set kind = \"ids\"" in stray[0].message


def test_file_relative_to_the_plan_with_line_numbers_of_bad_ids(registry, tmp_path):
    space = registry.get("space", "ksd")(layers=2)
    good = [space.arch_at(i).id for i in (5, 2)]
    (tmp_path / "top.csv").write_text(f"arch,score\n{good[0]},0.9\nbogus,0.8\n{good[1]},0.7\n,0.1\n")
    path = tmp_path / "plan.toml"
    path.write_text(ids_plan('file = "top.csv"'))
    found = problems(path.read_text(), registry, source=str(path))
    assert len(found) == 1 and found[0].path == "sampler.file"
    assert "top.csv, line 3: malformed ksd id 'bogus'" in found[0].message
    assert found[0].line == path.read_text().splitlines().index('file = "top.csv"') + 1

    (tmp_path / "top.csv").write_text(f"arch,score\n{good[0]},0.9\n{good[1]},0.7\n")
    assert load_plan(path, registry).sampler["ids"] == good


@pytest.mark.parametrize("content, says", [
    (None, "cannot read"),
    ("", "is empty"),
    ("id,score\nx,1\n", "has no arch column (columns: id, score)"),
    ("arch,score\n", "lists no architecture ids"),
])
def test_unusable_files_are_one_clear_problem(registry, tmp_path, content, says):
    if content is not None:
        (tmp_path / "top.csv").write_text(content)
    path = tmp_path / "plan.toml"
    path.write_text(ids_plan('file = "top.csv"'))
    found = problems(path.read_text(), registry, source=str(path))
    assert [p.path for p in found] == ["sampler.file"] and says in found[0].message


def test_many_bad_ids_are_summarised(registry):
    found = problems(ids_plan(f"ids = {json.dumps([f'bad{i}' for i in range(25)])}"), registry)
    assert len(found) == 11 and "and 15 more ids that are not ksd architectures" in found[-1].message


def test_plans_without_ids_keep_the_hash_they_had(registry):
    plan = parse_plan(ids_plan("").replace('kind = "ids"', 'kind = "random"\nn = 3'), registry)
    before = dict(plan.normalized(), sampler={"kind": "random", "n": 3, "valid_only": False})
    blob = json.dumps(before, sort_keys=True, default=str)
    assert plan.hash == hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_an_ids_run_evaluates_what_a_results_csv_names(registry, tmp_path):
    """The funnel by hand: run, export the top rows as CSV, evaluate exactly those."""
    plan = load_plan(tiny_plan(tmp_path / "a", n=6), registry)
    top = [r["arch"] for r in run_table(plan, registry).rows][::2]
    csv_path = tmp_path / "top.csv"
    csv_path.write_text("arch\n" + "\n".join(top) + "\n")

    second = tiny_plan(tmp_path / "b", extra="")
    text = second.read_text()
    head, _, rest = text.partition("[sampler]")
    tail = rest[rest.index("\n["):]
    second.write_text(f'{head}[sampler]\nkind = "ids"\nfile = "{csv_path}"\n{tail}')
    assert [r["arch"] for r in run_table(load_plan(second, registry), registry).rows] == top
