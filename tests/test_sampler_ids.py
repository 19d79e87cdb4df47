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


def _ids_run_in_two_folders(tmp_path, registry, monkeypatch):
    """A plan in A reading A/top.csv, its results file in B, the current directory a third
    folder: the first run evaluated all three ids; its last evaluation is then removed, as a
    stop would have left it. Returns (plan path, results file, ids, the rows kept)."""
    import sqlite3

    from rcx.cli import main

    a, b, elsewhere = tmp_path / "A", tmp_path / "B", tmp_path / "elsewhere"
    for folder in (a, b, elsewhere):
        folder.mkdir()
    monkeypatch.chdir(elsewhere)
    space = registry.get("space", "ksd")(layers=2)
    ids = [space.arch_at(i).id for i in (7, 3, 11)]
    (a / "top.csv").write_text("arch\n" + "\n".join(ids) + "\n")
    (b / "top.csv").write_text(f"arch\n{space.arch_at(1).id}\n")  # another file of that name, beside the results
    db = b / "results.db"
    plan = a / "plan.toml"
    plan.write_text(f'output = "{db}"\n' + ids_plan('file = "top.csv"'))
    assert main(["run", "--headless", str(plan), "-q", "--top", "0"]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM evaluations WHERE rowid = (SELECT MAX(rowid) FROM evaluations)")
        kept = sorted(conn.execute("SELECT arch, evaluator, state, metrics_json, finished FROM evaluations"))
    conn.close()
    assert len(kept) == 2
    return plan, db, ids, kept


def _rows(db) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute("SELECT arch, evaluator, state, metrics_json, finished FROM evaluations"))
    finally:
        conn.close()


def test_a_run_resumes_from_its_results_file_alone_with_the_ids_its_file_held(registry, tmp_path, monkeypatch):
    """The ids file was relative to the plan's folder, which the results file does not know:
    the resume takes the ids stored with the run, reads no file (neither B/top.csv beside the
    results nor the original, removed here), and evaluates the same candidates."""
    from rcx.cli import main

    plan, db, ids, kept = _ids_run_in_two_folders(tmp_path, registry, monkeypatch)
    (plan.parent / "top.csv").unlink()
    assert main(["run", "--headless", str(db), "-q", "--top", "0"]) == 0
    rows = _rows(db)
    assert sorted(r[0] for r in rows) == sorted(ids) and all(r[2] in ("done", "invalid") for r in rows)
    assert set(kept) <= set(rows)  # nothing computed is lost nor recomputed
    store = Store.open_readonly(db)
    try:
        assert store.run(None).id == 1  # the same run, resumed
    finally:
        store.close()


def test_a_resume_from_the_plan_whose_ids_file_is_gone_is_one_message_and_keeps_the_results(
        registry, tmp_path, monkeypatch, capsys):
    from rcx.cli import main

    plan, db, _, kept = _ids_run_in_two_folders(tmp_path, registry, monkeypatch)
    (plan.parent / "top.csv").unlink()
    capsys.readouterr()
    assert main(["run", "--headless", str(plan), "-q", "--top", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("sampler.file: cannot read") == 1 and str(plan.parent / "top.csv") in err
    assert _rows(db) == kept


def test_ids_read_before_stand_for_the_file_and_are_checked(registry, tmp_path):
    space = registry.get("space", "ksd")(layers=2)
    ids = [space.arch_at(i).id for i in (4, 9)]
    text = ids_plan('file = "nowhere.csv"')
    plan = parse_plan(text, registry, source=str(tmp_path / "p.toml"), file_ids=ids)
    assert plan.sampler["ids"] == ids and plan.sampler["file"] == "nowhere.csv"
    found = problems(text, registry, source=str(tmp_path / "p.toml"))  # without them: the file is read
    assert [p.path for p in found] == ["sampler.file"] and "cannot read" in found[0].message
    with pytest.raises(PlanError, match="id 2 of those read from nowhere.csv before"):
        parse_plan(text, registry, source="p.toml", file_ids=[ids[0], "bogus"])
