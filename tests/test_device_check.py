"""The device check (benchmarks/device_check.*): its report code, its helpers, and one real run
of ``--device cpu --quick`` (the mode that must pass without a GPU)."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import devcheck_env  # noqa: E402
import device_check as dc  # noqa: E402  benchmarks/
from devcheck_report import PartResult, format_value, load_results, markdown, one_line, summary_table, write_reports  # noqa: E402
from ray_overhead import overhead_ms  # noqa: E402
from sweep_timing import SweepTiming, child_env, executor_args, read_timestamps, recorded_device  # noqa: E402

HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_RCX_DIST = any(d.metadata["Name"] == "rcx" for d in metadata.distributions())


# -- report ------------------------------------------------------------------------------------------

def sample_results() -> list[PartResult]:
    return [
        PartResult("setup", "PASS", 2.4, figures={"torch": "2.11.0", "gpus": 1}),
        PartResult("ksd-sweep", "PASS", 130.2, figures={"in-process eval/s": 12.3456, "ratio": 2.5},
                   target="met: Ray >= 2x in-process sweep rate"),
        PartResult("ridge", "FAIL", 90.0, reason="Traceback (most recent call last):\n  ...\nRuntimeError: CUDA boom"),
        PartResult("train", "SKIP", reason="no time left in the budget"),
    ]


def test_summary_table_has_one_row_per_part_with_status_reason_and_target():
    table = summary_table(sample_results())
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["part", "status", "time", "figures"]
    row = {ln.split()[0]: ln for ln in lines[2:] if ln and not ln.startswith(" ")}
    assert row["setup"].split()[1:3] == ["PASS", "2s"] and "torch 2.11.0, gpus 1" in row["setup"]
    assert "in-process eval/s 12.3" in row["ksd-sweep"] and "ratio 2.5" in row["ksd-sweep"]
    assert "target: met: Ray >= 2x" in table
    assert row["ridge"].split()[1] == "FAIL" and row["ridge"].endswith("RuntimeError: CUDA boom")
    assert "Traceback" not in table  # the reason is one line: the last
    assert row["train"].split()[1] == "SKIP" and "no time left" in row["train"]
    assert lines[-1] == "2 passed, 1 failed, 1 skipped"


def test_summary_table_wraps_long_figures_within_the_width():
    figures = {f"figure number {i}": i * 1.5 for i in range(12)}
    table = summary_table([PartResult("cvu", "PASS", 1.0, figures=figures)], width=80)
    body = table.splitlines()[2:-1]
    assert len(body) > 1 and all(len(ln) <= 80 for ln in body)
    assert "figure number 11 16.5" in " ".join(table.split())


def test_a_failed_part_keeps_its_figures_beside_the_reason():
    r = PartResult("pytest-gpu", "FAIL", 5, reason="FAILED tests/test_ridge.py::x", figures={"passed": 2, "failed": 1})
    assert "FAILED tests/test_ridge.py::x [passed 2, failed 1]" in summary_table([r])


def test_part_result_rejects_an_unknown_status_and_keeps_one_line():
    with pytest.raises(ValueError, match="status 'OK'"):
        PartResult("setup", "OK")
    assert PartResult("x", "FAIL", reason="a\n\n b \n").reason == "b"
    assert one_line("x" * 500, 50).endswith("...") and len(one_line("x" * 500, 50)) == 50


def test_format_value():
    assert [format_value(v) for v in (3, 0.0, 1234.5, 12.3456, 0.00123, "text", True)] == \
        ["3", "0", "1234", "12.3", "0.00123", "text", "True"]


def test_markdown_and_json_reports_round_trip(tmp_path):
    results = sample_results()
    meta = {"date": "2026-12-03 07:00 UTC", "gpu": "NVIDIA H200", "torch": "2.11.0"}
    js, md = write_reports(results, meta, tmp_path)
    text = md.read_text()
    assert text.startswith("### Device check, 2026-12-03 07:00 UTC")
    assert "Machine: gpu NVIDIA H200, torch 2.11.0." in text
    assert ("| ksd-sweep | PASS | 130 | in-process eval/s 12.3, ratio 2.5 | met: Ray >= 2x in-process sweep rate |"
            in text)
    assert "| ridge | FAIL | 90 | FAIL: RuntimeError: CUDA boom |  |" in text
    again, meta_again = load_results(js)
    assert again == results and meta_again == meta
    assert "a \\| b" in markdown([PartResult("x", "FAIL", reason="a | b")], {})


# -- parts and helpers ---------------------------------------------------------------------------------

def context(tmp_path, budget: float = 100.0) -> dc.Context:
    return dc.Context("cpu", True, dc.QUICK, tmp_path / "log", tmp_path, time.monotonic() + budget, dict(os.environ))


def test_run_part_turns_an_exception_into_a_failure_and_skips_past_the_budget(tmp_path):
    def boom(ctx):
        raise RuntimeError("no CUDA here\nsecond line")

    r = dc.run_part("cvu", context(tmp_path), boom)
    assert (r.status, r.reason) == ("FAIL", "RuntimeError: no CUDA here")
    ok = dc.run_part("cvu", context(tmp_path), lambda ctx: dc.Outcome(True, {"a": 1}, target="met"))
    assert (ok.status, ok.figures, ok.target) == ("PASS", {"a": 1}, "met")
    late = dc.run_part("cvu", context(tmp_path, budget=5), boom)
    assert (late.status, late.reason) == ("SKIP", "no time left in the budget")


def test_call_logs_output_and_stops_a_command_at_its_limit(tmp_path):
    ctx = context(tmp_path)
    rc, out, timed_out = dc.call(ctx, [sys.executable, "-c", "print('hello'); raise SystemExit(3)"], 60)
    assert (rc, out.strip(), timed_out) == (3, "hello", False)
    rc, _, timed_out = dc.call(ctx, [sys.executable, "-c", "import time; time.sleep(30)"], 1)
    assert timed_out and dc.failure(rc, "", True, 1) == "stopped at its 1 s limit"
    assert "hello" in ctx.log.read_text() and "[stopped at its 1 s limit]" in ctx.log.read_text()


def test_failure_picks_the_error_line():
    out = "collecting\nTraceback (most recent call last):\n  File x\nValueError: bad plan\nsome cleanup line\n"
    assert dc.failure(1, out, False, 10) == "ValueError: bad plan"
    assert dc.failure(2, "just this\n", False, 10) == "just this"
    assert dc.failure(2, "", False, 10) == "exit 2"


def test_pytest_counts_and_gpu_test_files():
    assert dc.pytest_counts("3 passed, 1 failed, 2 skipped, 1 error in 4.20s") == \
        {"passed": 3, "failed": 1, "skipped": 2, "errors": 1}
    files = dc.gpu_test_files()
    assert "tests/test_ridge.py" in files and "tests/test_device_check.py" not in files


def test_parse_args_selects_parts_in_order_and_refuses_unknown_ones(capsys):
    assert dc.parse_args(["--only", "train,setup"]).parts == ["setup", "train"]
    assert dc.parse_args([]).parts == list(dc.PARTS)
    with pytest.raises(SystemExit):
        dc.parse_args(["--only", "setup,gpu"])
    assert "unknown part(s) gpu" in capsys.readouterr().err


def test_sweep_workers_on_cuda_are_four_quarter_gpus(tmp_path):
    ctx = context(tmp_path)
    ctx.device = "cuda"
    flags = dc.sweep_workers(ctx)
    assert flags[:2] == ["--executor", "ray"]
    assert flags[flags.index("--workers") + 1] == "4" and flags[flags.index("--gpus-per-worker") + 1] == "0.25"


def test_executor_args_leave_defaults_to_rcx():
    assert executor_args("in-process", workers=3) == ["--executor", "in-process"]
    assert executor_args("ray", workers=2, threads_per_worker=1) == \
        ["--executor", "ray", "--workers", "2", "--threads-per-worker", "1"]


def test_child_env_puts_extra_paths_and_the_repository_first(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", f"/elsewhere{os.pathsep}{ROOT}")
    parts = child_env([tmp_path])["PYTHONPATH"].split(os.pathsep)
    assert parts == [str(tmp_path), str(ROOT), "/elsewhere"]


def write_db(path: Path, rows: list[tuple[str, float | None, float | None]], run_id: int = 2) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    con.execute("CREATE TABLE evaluations (run_id INTEGER, arch TEXT, evaluator TEXT, state TEXT, started REAL, "
                "finished REAL, metrics_json TEXT)")
    con.executemany("INSERT INTO runs VALUES (?)", [(1,), (run_id,)])
    con.executemany("INSERT INTO evaluations VALUES (?, ?, 'ridge_rfm', ?, ?, ?, ?)",
                    [(run_id, f"a{i}", state, s, f, json.dumps({"val_acc": i / 10})) for i, (state, s, f) in
                     enumerate(rows)] + [(1, "old", "done", 0.0, 500.0, "{}")])
    con.commit()
    con.close()


def test_read_timestamps_uses_the_latest_run_and_final_rows(tmp_path):
    db = tmp_path / "r.db"
    write_db(db, [("done", 10.0, 11.0), ("done", 11.0, 12.5), ("screened", 12.0, 14.0), ("running", 14.0, None),
                  ("invalid", 1.0, 1.0)])
    assert read_timestamps(db) == (3, 4.0, 3.0)
    assert read_timestamps(tmp_path / "missing.db") == (0, 0.0, 0.0)
    t = SweepTiming("x", 0, 8.0, 3, 4.0, 3.0)
    assert (t.sweep_rate, t.steady_rate, t.wall_rate, t.ok) == (0.75, 2 / 3, 0.375, True)
    assert dc.val_accs(db) == {"a0": 0.0, "a1": 0.1}
    assert recorded_device(db) == ""  # this file's runs table has no device column


def test_recorded_device_reads_the_latest_run(tmp_path):
    db = tmp_path / "d.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, device_name TEXT)")
    con.executemany("INSERT INTO runs VALUES (?, ?)", [(1, "cpu (x86_64, 2 threads)"), (2, "cpu (x86_64, 1 threads)")])
    con.commit()
    con.close()
    assert recorded_device(db) == "cpu (x86_64, 1 threads)" and recorded_device(tmp_path / "none.db") == ""


def test_overhead_is_ray_minus_in_process_per_evaluation():
    inproc = SweepTiming("in", 0, 5.0, 1001, 2.0, 1.0)
    ray = SweepTiming("ray", 0, 15.0, 1001, 4.5, 4.0)
    got = overhead_ms(inproc, ray)
    assert got["steady"] == pytest.approx(3.0) and got["startup"] == pytest.approx(10000 / 1001)
    assert (got["inproc_steady"], got["ray_steady"]) == (pytest.approx(1.0), pytest.approx(4.0))


# -- what travels to the GPU machine ------------------------------------------------------------------

def test_repack_ray_drops_the_listed_folders_and_their_record_lines(tmp_path):
    src = tmp_path / "src" / "ray-9.9.9-cp312-cp312-manylinux2014_x86_64.whl"
    src.parent.mkdir()
    members = ["ray/__init__.py", "ray/jars/ray_dist.jar", "ray/dashboard/client/build/x.js", "ray/dashboard/head.py",
               "ray/rllib/algo.py", "ray/_raylet.so"]
    with zipfile.ZipFile(src, "w") as z:
        for m in members:
            z.writestr(m, "x")
        z.writestr("ray-9.9.9.dist-info/RECORD", "".join(f"{m},sha256=x,1\n" for m in members))
    out = devcheck_env.repack_ray(src, tmp_path / "wheels")
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        record = z.read("ray-9.9.9.dist-info/RECORD").decode()
    assert out.name == src.name
    assert names == {"ray/__init__.py", "ray/dashboard/head.py", "ray/_raylet.so", "ray-9.9.9.dist-info/RECORD"}
    assert "jars" not in record and "rllib" not in record and "ray/dashboard/head.py" in record


def test_cifar_subset_keeps_the_first_images_of_each_class(tmp_path):
    src = tmp_path / "all.zip"
    with zipfile.ZipFile(src, "w") as z:
        for split in ("train", "test"):
            for c in ("cat", "dog"):
                for i in range(5):
                    z.writestr(f"{split}/{c}/{i:04d}.jpg", b"jpeg")
        z.writestr("README.txt", "x")
    assert devcheck_env.cifar_subset(src, tmp_path / "sub.zip", train=3, test=1) == 8
    with zipfile.ZipFile(tmp_path / "sub.zip") as z:
        names = sorted(z.namelist())
    assert names[:2] == ["test/cat/0000.jpg", "test/dog/0000.jpg"] and "train/dog/0002.jpg" in names
    assert "train/dog/0003.jpg" not in names and "README.txt" not in names


def test_rcx_dist_info_gives_the_source_tree_its_entry_points(tmp_path):
    info = devcheck_env.write_rcx_dist_info(tmp_path)
    dist = metadata.PathDistribution(info)
    assert dist.metadata["Name"] == "rcx"
    eps = {ep.name: ep.value for ep in dist.entry_points if ep.group == "rcx"}
    assert eps == {"rcx_spaces": "rcx.spaces", "rcx_evaluators": "rcx.evaluators", "rcx_datasets": "rcx.data",
                   "rcx_truths": "rcx.truth"}
    assert {ep.name for ep in dist.entry_points if ep.group == "console_scripts"} == {"rcx"}
    assert devcheck_env.wheel_dist(Path("rpds_py-0.22.3-cp312-cp312-manylinux_2_17_x86_64.whl")) == "rpds_py"


def test_plugin_dist_info_gives_each_plugin_its_entry_points(tmp_path):
    """The GPU machine has rcx-naswot and rcx-zerocost only as folders (all_scores.py needs them)."""
    folders = devcheck_env.plugin_folders()
    assert [f.name for f in folders] == ["rcx-naswot", "rcx-zerocost"]
    for folder, module in zip(folders, ("rcx_naswot", "rcx_zerocost")):
        dist = metadata.PathDistribution(devcheck_env.write_rcx_dist_info(tmp_path, folder))
        assert dist.metadata["Name"] == folder.name and dist.version == "0.1.0"
        assert {ep.value for ep in dist.entry_points if ep.group == "rcx"} == {f"{module}.plugin"}


def test_device_check_sh_puts_rcx_and_the_plugin_folders_on_pythonpath(tmp_path):
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "PYTHONPATH=$PYTHONPATH $1"\n')
    fake.chmod(0o755)
    env = dict(os.environ, PYTHON=str(fake), RCX_DEVCHECK_SITE=str(tmp_path / "site"))
    env.pop("PYTHONPATH", None)
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh"), "--device", "cpu"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60).stdout.splitlines()
    expected = [str(tmp_path / "site"), str(ROOT), str(ROOT / "plugins" / "rcx-naswot"),
                str(ROOT / "plugins" / "rcx-zerocost")]
    assert [ln.split()[1] for ln in out] == ["benchmarks/devcheck_env.py", "benchmarks/device_check.py"]
    assert all(ln.split()[0] == "PYTHONPATH=" + ":".join(expected) for ln in out)


def test_install_installs_nothing_that_is_already_there(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "pluggy-1.0.0-py3-none-any.whl").write_bytes(b"not a wheel: pip would fail on it")
    done = devcheck_env.install(tmp_path / "site", wheels)  # pluggy is installed (rcx needs it): not touched
    installed = {d.metadata["Name"] for d in metadata.distributions()}
    plugins = [f"{f.name} (entry points of plugins/{f.name})" for f in devcheck_env.plugin_folders()
               if f.name not in installed]
    assert done == ([] if HAS_RCX_DIST else ["rcx (entry points of the source tree)"]) + plugins


def test_synthetic_zip_is_laid_out_like_the_cifar_copy(tmp_path):
    path = dc.synthetic_zip(tmp_path / "s.zip", train=2, test=1)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert len(names) == 30 and "train/" + names[0].split("/", 1)[1] in names
    assert {n.split("/")[0] for n in names} == {"train", "test"} and all(n.endswith(".jpg") for n in names)


# -- the real thing, on a CPU -----------------------------------------------------------------------------

@pytest.mark.slow
def test_device_check_cpu_quick_passes_and_prints_the_summary(tmp_path):
    parts = [p for p in dc.PARTS if HAS_RAY or p not in ("ksd-sweep", "ray-overhead")]
    env = dict(os.environ, RCX_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("OUT", None)
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh"), "--device", "cpu", "--quick",
                           "--only", ",".join(parts), "--out", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("part  "):]
    for part in parts:
        assert any(ln.startswith(part + " ") and " PASS " in ln for ln in table.splitlines()), (part, table)
    assert f"{len(parts)} passed, 0 failed, 0 skipped" in table
    results, meta = load_results(tmp_path / "out" / "device_check.json")
    assert [r.name for r in results] == parts and meta["device"] == "cpu" and meta["profile"] == "quick"
    assert (tmp_path / "out" / "device_check.md").read_text().count("| PASS |") == len(parts)
    by_name = {r.name: r for r in results}
    assert by_name["pytest-gpu"].figures["skipped"] >= 1  # no CUDA: the GPU tests skip
    assert by_name["cvu"].figures["path"] in ("loop/float32", "loop/bfloat16")
    if HAS_RAY:
        assert by_name["ksd-sweep"].figures["ray eval/s"] > 0
        assert by_name["ksd-sweep"].figures["max |d val_acc|"] == 0  # execution settings never change results
