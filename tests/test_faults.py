"""Faults of issue 22 (and one of issue 23) that must not hang, flood or touch a file: huge
plans, damaged and empty results files, readers that leave the folder as they found it, and
plan messages that name the real cause at validate time."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from rcx.core.plan import parse_plan
from rcx.core.store import Store
from rcx.plugins import Registry

from .conftest import tiny_plan
from .test_bad_input import rcx_main, run, tiny_plan_text


def many_tables(n: int) -> str:
    """The tiny plan with ``n`` more ``ridge_rfm`` evaluator tables (``e0`` .. ``e{n-1}``)."""
    return tiny_plan_text() + "".join(f'\n[evaluators.e{i}]\nevaluator = "ridge_rfm"\n' for i in range(n))


# -- plan validation is linear in the number of evaluator tables ------------------------------------


def test_plan_validation_looks_each_evaluator_up_a_bounded_number_of_times(registry, monkeypatch):
    """Linear, counted without a clock: the registry is asked a few times per table, never once
    per pair of tables (3,000 tables took 1.3 s, 30,000 151 s before)."""
    calls = [0]
    get = Registry.get

    def counting(self, kind, name):
        calls[0] += kind == "evaluator"
        return get(self, kind, name)

    monkeypatch.setattr(Registry, "get", counting)
    n = 2000
    plan = parse_plan(many_tables(n), registry)
    assert len(plan.evaluators) == n + 1
    assert calls[0] <= 3 * (n + 1), f"{calls[0]:,} evaluator look-ups for {n + 1:,} tables"


def test_a_plan_of_100000_evaluator_tables_validates(registry):
    plan = parse_plan(many_tables(100_000), registry)
    assert len(plan.evaluators) == 100_001 and plan.evaluators[-1].instance == "e99999"


# -- results files: refused ones stay byte-identical, readers leave the folder as they found it ------


@pytest.fixture(scope="module")
def finished(tmp_path_factory, registry) -> Path:
    """A finished results file of the tiny plan (3 candidates); copy it before changing it."""
    folder = tmp_path_factory.mktemp("finished")
    run(tiny_plan(folder, n=3, trials=1), registry)
    return folder / "results.db"


def fresh_copy(finished: Path, folder: Path) -> tuple[Path, Path]:
    """A copy of the finished file and its plan in ``folder``: (plan, results file)."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = tiny_plan(folder, n=3, trials=1)
    shutil.copy(finished, folder / "results.db")
    return plan, folder / "results.db"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_results_file_is_refused_before_anything_is_written(finished, tmp_path, capsys):
    """3,000 bytes overwritten in the middle (from a page boundary, so SQLite's structure is hit,
    not only unused space): refused with exit 2, the file byte-identical, nothing left beside it."""
    plan, db = fresh_copy(finished, tmp_path)
    data = bytearray(db.read_bytes())
    page = 4096
    start = (len(data) // page // 2) * page
    data[start:start + 3000] = bytes((i * 37 + 11) % 256 for i in range(3000))
    db.write_bytes(bytes(data))
    before = sha256(db)
    code, _, err = rcx_main(capsys, "run", "--headless", "-q", plan, "--db", db)
    assert code == 2 and "damaged" in err and str(db) in err, err
    assert sha256(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml", "results.db"]


def test_another_programs_database_is_refused_untouched(tmp_path, capsys):
    plan = tiny_plan(tmp_path)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    before = sha256(other)
    code, _, err = rcx_main(capsys, "run", "--headless", "-q", plan, "--db", other)
    assert code == 2 and "not an rcx results database" in err, err
    assert sha256(other) == before


def test_a_zero_byte_file_is_an_empty_results_file_for_every_command(tmp_path, capsys):
    """One behaviour: readers see a results file that holds no run yet (the message of a file
    rcx created and never finished a run in), ``rcx run`` fills it."""
    empty = tmp_path / "empty.db"
    empty.touch()
    for argv in (["results", empty], ["results", empty, "--errors"], ["analyze", "corr", empty, "--x", "a", "--y", "b"]):
        code, _, err = rcx_main(capsys, *argv)
        assert code == 2 and err.strip().endswith(f"{empty}: holds no run yet"), (argv, err)
    assert empty.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    code, _, err = rcx_main(capsys, "run", "--headless", "-q", "--top", "0", tiny_plan(tmp_path), "--db", empty)
    assert code == 0, err
    code, out, _ = rcx_main(capsys, "results", empty)
    assert code == 0 and "ridge_rfm.val_acc" in out


def test_readers_leave_no_shm_or_wal_beside_the_results_file(finished, tmp_path, capsys):
    plan, db = fresh_copy(finished, tmp_path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    before = sha256(db)
    for argv in (["results", db], ["results", db, "--errors"], ["results", db, "--format", "json"],
                 ["analyze", "corr", db, "--x", "val_acc", "--y", "params"]):
        code, _, err = rcx_main(capsys, *argv)
        assert code == 0, (argv, err)
        assert sorted(p.name for p in tmp_path.iterdir()) == listing, argv
    assert sha256(db) == before
    code, _, err = rcx_main(capsys, "run", "--headless", "-q", "--top", "0", plan)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def test_a_reader_beside_a_writer_keeps_the_writers_wal(finished, tmp_path):
    """A reader that opens while a run writes must neither remove nor checkpoint its journal."""
    _, db = fresh_copy(finished, tmp_path)
    writer = Store.open(db)
    try:
        run_id = writer.run().id
        writer.log(run_id, "info", "written while a reader reads")
        assert Path(f"{db}-wal").exists()
        reader = Store.open_readonly(db)
        try:
            assert reader.logs(run_id)[-1][2] == "written while a reader reads"
        finally:
            reader.close()
        assert Path(f"{db}-wal").stat().st_size > 0
        writer.log(run_id, "info", "and after it")
    finally:
        writer.close()
    reader = Store.open_readonly(db)
    try:
        assert [m for *_, m in reader.logs(run_id)][-2:] == ["written while a reader reads", "and after it"]
    finally:
        reader.close()
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
