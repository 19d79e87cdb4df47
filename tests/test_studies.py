"""studies/study.py: results files kept compressed in the repository, resumed, and the tables of
SCIENCE.md regenerated from them alone."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, tiny_plan

_spec = importlib.util.spec_from_file_location("study", ROOT / "studies" / "study.py")
study = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(study)


def _rcx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rcx", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "archives"
    monkeypatch.setattr(study, "ARCHIVES", folder)
    return folder


def test_push_pull_round_trip_resumes_without_recomputing(tmp_path: Path, archives: Path) -> None:
    plan = tiny_plan(tmp_path, n=3, trials=1)
    runs = tmp_path / "runs"
    db = runs / "tiny.db"
    first = _rcx("run", "--headless", str(plan), "--db", str(db), "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    done = study.counts(db)
    assert done.get("done", 0) == 3

    assert "tiny.db.xz" in study.push("tiny", runs)
    assert (archives / "tiny.db.xz").stat().st_size > 0

    elsewhere = tmp_path / "elsewhere"
    assert "unpacked 3" in study.pull("tiny", elsewhere)
    restored = elsewhere / "tiny.db"
    assert study.counts(restored) == done
    with sqlite3.connect(restored) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    again = _rcx("run", "--headless", str(plan), "--db", str(restored), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "3/3 already done" in again.stdout + again.stderr
    assert study.counts(restored) == done


def test_pull_keeps_a_results_file_that_holds_more(tmp_path: Path, archives: Path) -> None:
    plan = tiny_plan(tmp_path, n=2, trials=1)
    runs = tmp_path / "runs"
    assert _rcx("run", "--headless", str(plan), "--db", str(runs / "tiny.db"), "-q", cwd=tmp_path).returncode == 0
    study.push("tiny", runs)
    more = tiny_plan(tmp_path, n=4, trials=1)
    assert _rcx("run", "--headless", str(more), "--db", str(runs / "tiny.db"), "--new-run", "-q",
                cwd=tmp_path).returncode == 0
    grown = study.counts(runs / "tiny.db")
    assert "kept" in study.pull("tiny", runs)
    assert study.counts(runs / "tiny.db") == grown


def test_push_keeps_the_archive_of_an_unchanged_study_byte_for_byte(tmp_path: Path, archives: Path) -> None:
    plan = tiny_plan(tmp_path, n=2, trials=1)
    runs = tmp_path / "runs"
    db = runs / "tiny.db"
    assert _rcx("run", "--headless", str(plan), "--db", str(db), "-q", cwd=tmp_path).returncode == 0
    study.push("tiny", runs)
    stored = (archives / "tiny.db.xz").read_bytes()
    with sqlite3.connect(db) as con:  # same rows, other bytes: a new page layout and header counters
        con.execute("CREATE TABLE scratch (x)")
        con.execute("DROP TABLE scratch")
    con.close()
    with sqlite3.connect(db) as con:
        con.execute("VACUUM")
    con.close()
    assert "unchanged" in study.push("tiny", runs)
    assert (archives / "tiny.db.xz").read_bytes() == stored

    more = tiny_plan(tmp_path, n=3, trials=1)
    assert _rcx("run", "--headless", str(more), "--db", str(db), "--new-run", "-q", cwd=tmp_path).returncode == 0
    assert "unchanged" not in study.push("tiny", runs)
    assert (archives / "tiny.db.xz").read_bytes() != stored
    assert study.archived_content(archives / "tiny.db.xz") == study.content(db)


def test_markdown_merges_intervals_and_the_published_column() -> None:
    header = ["metric", "n", "spearman", "spearman_lo", "spearman_hi", "vs_params", "vs_params_lo",
              "vs_params_hi", "select_mean", "select_std"]
    rows = [["zico", "980", "0.7891", "0.7634", "0.8141", "0.0231", "-0.0021", "0.048", "93.291", "0.42"]]
    table = study.markdown(header, rows, {"zico": "0.80 (ZiCo)"}).splitlines()
    assert table[0] == "| metric | n | spearman [95 % CI] | vs params [95 % CI] | select mean | published |"
    assert table[2] == "| zico | 980 | 0.789 [0.763, 0.814] | +0.023 [-0.002, +0.048] | 93.29 ± 0.42 | 0.80 (ZiCo) |"


def test_markdown_escapes_pipes_in_cells() -> None:
    """NAS-Bench-201 ids are full of pipes; unescaped, each would split a cell (issue 20)."""
    table = study.markdown(["arch", "mean"], [["|nor_conv_3x3~0|+|none~0|", "0.5"]], {}).splitlines()
    assert table[2] == "| \\|nor_conv_3x3~0\\|+\\|none~0\\| | 0.500 |"


def test_markdown_merges_a_mean_and_its_std() -> None:
    """``rcx analyze fit`` writes kendall and kendall_std: one "mean ± std" cell, 3 places."""
    table = study.markdown(["method", "kendall", "kendall_std"], [["forest", "0.61234", "0.0216"]], {}).splitlines()
    assert table[0] == "| method | kendall |"
    assert table[2] == "| forest | 0.612 ± 0.022 |"


def test_markdown_keeps_small_p_values_readable() -> None:
    table = study.markdown(["group", "spearman", "spearman_p", "p_vs_random"],
                           [["all", "-0.557", "1.385e-20", "5e-31"]], {}).splitlines()
    assert table[2] == "| all | -0.557 | 1.4e-20 | 5e-31 |"


def test_render_points_every_runs_path_at_the_archives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A ``--pair runs/a.db,runs/b.db@truth`` argument holds two paths, neither at its start only."""
    seen: list[list[str]] = []

    def fake_run(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="a,b\n1,2\n", stderr="")

    monkeypatch.setattr(study.subprocess, "run", fake_run)
    study.render("analyze transfer --pair runs/a.db,runs/b.db@nb201:cifar10 --x runs/c.db --y=runs/d.db", tmp_path)
    args = seen[0][1:]
    assert f"{tmp_path}/a.db,{tmp_path}/b.db@nb201:cifar10" in args
    assert f"{tmp_path}/c.db" in args and f"--y={tmp_path}/d.db" in args


def test_regenerate_replaces_only_marked_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study, "render", lambda args, runs: f"TABLE({args})")
    text = "a\n<!-- rcx-table: analyze x runs/a.db -->\nold\n<!-- /rcx-table -->\nb\n"
    assert study.regenerate(text) == \
        "a\n<!-- rcx-table: analyze x runs/a.db -->\nTABLE(analyze x runs/a.db)\n<!-- /rcx-table -->\nb\n"


def test_regenerate_keeps_each_table_in_its_block_whatever_finishes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run concurrently; the first one to start is made the last to finish."""
    import threading

    first_may_finish = threading.Event()

    def render(args: str, runs: Path) -> str:
        if args == "analyze one":
            assert first_may_finish.wait(timeout=60)
        else:
            first_may_finish.set()
        return f"T[{args}]"

    monkeypatch.setattr(study, "render", render)
    text = "".join(f"{n}\n<!-- rcx-table: analyze {n} -->\nold\n<!-- /rcx-table -->\n" for n in ("one", "two", "three"))
    assert study.regenerate(text, workers=3) == "".join(
        f"{n}\n<!-- rcx-table: analyze {n} -->\nT[analyze {n}]\n<!-- /rcx-table -->\n" for n in ("one", "two", "three"))
    assert study.regenerate("no tables\n") == "no tables\n"


def test_regenerate_only_renders_the_blocks_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []
    monkeypatch.setattr(study, "render", lambda args, runs: rendered.append(args) or f"T[{args}]")
    text = "".join(f"<!-- rcx-table: analyze {n} runs/{n}.db -->\nold {n}\n<!-- /rcx-table -->\n"
                   for n in ("a", "b", "c"))
    assert study.regenerate(text, only=("b.db", "c.db")) == (
        "<!-- rcx-table: analyze a runs/a.db -->\nold a\n<!-- /rcx-table -->\n"
        "<!-- rcx-table: analyze b runs/b.db -->\nT[analyze b runs/b.db]\n<!-- /rcx-table -->\n"
        "<!-- rcx-table: analyze c runs/c.db -->\nT[analyze c runs/c.db]\n<!-- /rcx-table -->\n")
    assert sorted(rendered) == ["analyze b runs/b.db", "analyze c runs/c.db"]


@pytest.mark.slow
def test_science_tables_match_the_committed_archives() -> None:
    """Every marked table of SCIENCE.md is what `python studies/study.py tables` gives today."""
    out = subprocess.run([sys.executable, str(ROOT / "studies" / "study.py"), "tables", "--check"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_funnel_cell_lists_regenerate_from_the_committed_archives() -> None:
    """studies/funnel_cells.py gives the committed cell lists byte for byte: the one-epoch
    funnel's (top 10) and the longer point's (the recipe's top 3 first), the same cells in two
    orders, and the recipe's lists on the second sample."""
    study, fc = _load_script("study"), _load_script("funnel_cells")
    results, plans = ROOT / "studies" / "results", ROOT / "studies" / "plans"
    with study.unpacked(results / "nb201_study.db.xz") as db, \
            study.unpacked(results / "nb201_study_zerocost.db.xz") as zc:
        params, recipe, synflow = fc.FIRSTS
        for firsts, tops, csv in ((fc.FIRSTS, (10,), "nb201_funnel_size.csv"),
                                  ((recipe, params, synflow), (3, 5, 10), "nb201_funnel_size_long.csv")):
            ids = fc.cells(db, [zc], "nb201:cifar10", firsts, n_arch=300, tops=tops, runs=(20, 100), seed=0)
            assert "arch\n" + "".join(f"{i}\n" for i in ids) == (plans / csv).read_text(), csv
    assert sorted((plans / "nb201_funnel_size.csv").read_text().split()) == \
        sorted((plans / "nb201_funnel_size_long.csv").read_text().split())
    with study.unpacked(results / "nb201_sample2.db.xz") as db:  # the confirmation on the second sample
        ids = fc.cells(db, [], "nb201:cifar10", (recipe,), n_arch=300, tops=(3, 5, 10), runs=(20, 100), seed=0)
    assert "arch\n" + "".join(f"{i}\n" for i in ids) == (plans / "nb201_sample2_funnel_long.csv").read_text()


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "studies" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_sample_variation_spearman_rows_equal_scipy_with_ties() -> None:
    """studies/sample_variation.py ranks many resamples at once; each row must be scipy's
    Spearman (average ranks for ties: params takes few distinct values on NAS-Bench-201)."""
    import numpy as np
    from scipy.stats import spearmanr

    sv = _load_script("sample_variation")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(6, 40)).astype(float)  # many ties
    y = x + rng.normal(0, 2, size=x.shape)
    got = sv._spearman_rows(x.copy(), y.copy())
    want = [spearmanr(a, b).statistic for a, b in zip(x, y)]
    assert np.allclose(got, want, rtol=0, atol=1e-12)
    idx = rng.integers(0, 40, size=(3, 40))
    diff = sv.difference(x[0], y[1], y[0], idx)
    want_diff = [spearmanr(x[0][r], y[0][r]).statistic - spearmanr(y[1][r], y[0][r]).statistic for r in idx]
    assert np.allclose(diff, want_diff, rtol=0, atol=1e-12)


NB201_PLAN = """
name = "two-samples"
seed = {seed}
device = "cpu"
output = "{output}"

[dataset]
name = "synthetic"
n_train = 80
n_test = 60

[space]
name = "nb201"
channels = 4
cells = 1

[sampler]
kind = "random"
n = 24

[evaluators.ridge_rfm]
trials = 1
train_size = 60
val_size = 40
batch_size = 40
dtype = "float32"
"""


def test_two_samples_sample_one_is_the_leaderboard_and_pooled_counts_each_cell_once(tmp_path: Path) -> None:
    """studies/two_samples.py on two real (tiny) NAS-Bench-201 runs: sample 1's Spearman, interval
    and difference from params are `rcx analyze proxies`'s own; the pooled sample holds every
    distinct cell of both once; sample 2 minus sample 1 is the difference of the two rows."""
    import csv
    import io

    dbs = []
    for seed in (0, 1):
        plan = tmp_path / f"s{seed}.toml"
        dbs.append(tmp_path / f"s{seed}.db")
        plan.write_text(NB201_PLAN.format(seed=seed, output=dbs[-1]))
        assert _rcx("run", "--headless", str(plan), "--threads", "1", "-q", cwd=tmp_path).returncode == 0
    out = subprocess.run([sys.executable, str(ROOT / "studies" / "two_samples.py"), "--sample1", str(dbs[0]),
                          "--sample2", str(dbs[1]), "--boot", "200", "--format", "csv"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(out.stdout))}
    assert set(rows) == {"ridge_rfm.val_acc", "params"}
    board = _rcx("analyze", "proxies", str(dbs[0]), "--truth", "nb201:cifar10", "--boot", "200", "--format", "csv",
                 cwd=tmp_path)
    assert board.returncode == 0, board.stderr
    want = {r["metric"]: r for r in csv.DictReader(io.StringIO(board.stdout))}["ridge_rfm.val_acc"]
    got = rows["ridge_rfm.val_acc"]
    for ours, theirs in (("spearman_1", "spearman"), ("spearman_1_lo", "spearman_lo"),
                         ("spearman_1_hi", "spearman_hi"), ("vs_params_1", "vs_params"),
                         ("vs_params_1_lo", "vs_params_lo"), ("vs_params_1_hi", "vs_params_hi")):
        assert float(got[ours]) == pytest.approx(float(theirs and want[theirs]), abs=1e-12), ours
    ids = []
    for db in dbs:
        con = sqlite3.connect(db)
        ids.append({a for (a,) in con.execute("SELECT arch FROM evaluations WHERE state = 'done'")})
        con.close()
    assert int(got["n_1"]) == len(ids[0]) and int(got["n_2"]) == len(ids[1])
    assert int(got["n_pooled"]) == len(ids[0] | ids[1])
    assert float(got["vs_sample_1"]) == pytest.approx(float(got["spearman_2"]) - float(got["spearman_1"]), abs=1e-12)
    assert rows["params"]["vs_params_1"] == ""
