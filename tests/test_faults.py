"""Faults of issue 22 (and one of issue 23) that must not hang, flood or touch a file: huge
plans, damaged and empty results files, readers that leave the folder as they found it, and
plan messages that name the real cause at validate time."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from rcx.core.plan import MAX_REPEATS, PlanError, parse_plan
from rcx.core.store import Store
from rcx.plugins import Registry

from .conftest import tiny_plan
from .test_bad_input import rcx_main, run, tiny_plan_text


def many_tables(n: int) -> str:
    """The tiny plan with ``n`` more ``ridge_rfm`` evaluator tables (``e0`` .. ``e{n-1}``)."""
    table = 'evaluator = "ridge_rfm"\ntrain_size = 100\nval_size = 60'
    return tiny_plan_text() + "".join(f"\n[evaluators.e{i}]\n{table}\n" for i in range(n))


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
    for argv in (["results", empty], ["results", empty, "--errors"],
                 ["analyze", "corr", empty, "--x", "a", "--y", "b"]):
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


# -- plan messages: the real cause at validate time, one message per problem, no flood --------------


@pytest.mark.parametrize("value", ["0", "-3", "inf", "nan", "1.5"])
def test_a_bad_sampler_n_is_one_message(registry, value):
    with pytest.raises(PlanError) as info:
        parse_plan(tiny_plan_text().replace("n = 2", f"n = {value}"), registry)
    assert [p.path for p in info.value.problems] == ["sampler.n"], info.value


def test_channels_that_no_architecture_fits_are_refused_at_validate_naming_why(registry):
    """``channels = 10**12``: every output exceeds the input, so ``valid_only`` finds nothing;
    said by the plan check (the dataset's shape is known without loading), with the reason."""
    text = tiny_plan_text().replace("channels = 8", "channels = 1000000000000")
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry)
    (problem,) = info.value.problems
    assert problem.path == "sampler.valid_only" and "fit 3x32x32" in problem.message, problem
    assert "output 1000000000000x" in problem.message and "exceeds the input" in problem.message, problem
    parse_plan(text.replace("valid_only = true", "valid_only = false"), registry)  # no fit rule: nothing to say


def test_an_evaluator_asking_more_images_than_the_dataset_has_is_refused_at_validate(registry):
    text = tiny_plan_text().replace("train_size = 100", "train_size = 100000")  # n_train is 120
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry)
    (problem,) = info.value.problems
    assert problem.path == "evaluators.ridge_rfm.train_size" and "100000 exceeds" in problem.message
    assert "120 training" in problem.message
    subset = text.replace('name = "synthetic"', 'name = "synthetic"\ntrain_size = 110')
    with pytest.raises(PlanError, match="110 training"):
        parse_plan(subset.replace("train_size = 100000", "train_size = 115"), registry)


def test_many_unknown_keys_print_a_few_lines_and_a_count(tmp_path, capsys):
    n = 20_000
    path = tmp_path / "plan.toml"
    path.write_text(tiny_plan_text().replace("[space]", "".join(f"x{i} = 1\n" for i in range(n)) + "[space]"))
    code, _, err = rcx_main(capsys, "run", "--headless", "-q", path)
    assert code == 2 and len(err) < 5_000, len(err)
    assert f"and {n - MAX_REPEATS:,} more keys with the same problem (unknown option" in err
    assert f"the plan has {n:,} problem(s)" in err
    assert sum("dataset.x" in line for line in err.splitlines()) == MAX_REPEATS


def test_the_synthetic_image_size_help_states_the_limit_the_validator_applies(registry):
    from rcx.api import MAX_IMAGE_SIDE
    from rcx.data.synthetic import SyntheticProvider

    (opt,) = [o for o in SyntheticProvider.options if o.name == "image_size"]
    assert f"at most {int(opt.max)}" in opt.help and opt.max < MAX_IMAGE_SIDE
    with pytest.raises(PlanError, match="image_size: must be int <= 256"):
        parse_plan(tiny_plan_text().replace('name = "synthetic"', 'name = "synthetic"\nimage_size = 257'), registry)


# -- Ray settings checked before anything starts -------------------------------------------------------


def test_ray_client_addresses_are_refused_with_the_alternative(tmp_path, capsys):
    """The Ray executor streams each evaluation's messages, which Ray Client cannot: a ray://
    address is a usage error naming what to use instead, before Ray or the plan is touched."""
    from rcx.exec import ExecutionSettings

    assert any("ray://" in p and "not supported" in p
               for p in ExecutionSettings("ray", address="ray://head:10001").problems())
    code, _, err = rcx_main(capsys, "run", "--headless", tiny_plan(tmp_path), "--executor", "ray",
                            "--address", "ray://head:10001")
    assert code == 2 and "Ray Client addresses (ray://) are not supported" in err and "--address auto" in err
    assert not (tmp_path / "results.db").exists()


@pytest.mark.parametrize("argv, message", [
    (["--executor", "ray", "--worker-timeout", "0"], "worker timeout 0.0: expected seconds above 0"),
    (["--executor", "ray", "--worker-timeout", "inf"], "worker timeout inf: expected seconds above 0"),
    (["--worker-timeout", "30"], "--worker-timeout only apply to --executor ray"),
])
def test_the_worker_timeout_flag_is_checked(tmp_path, capsys, argv, message):
    code, _, err = rcx_main(capsys, "run", "--headless", tiny_plan(tmp_path), *argv)
    assert code == 2 and message in err, err
