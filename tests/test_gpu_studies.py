"""benchmarks/gpu_studies.sh: the GPU study plans' one command, run here on the CPU on a tiny plan."""

from __future__ import annotations

import lzma
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, tiny_plan

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_studies  # noqa: E402


def ok_rows(archive: Path, tmp: Path) -> int:
    db = tmp / "probe.db"
    with lzma.open(archive) as fh:
        db.write_bytes(fh.read())
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM evaluations WHERE state = 'done'").fetchone()[0]
    finally:
        con.close()
        db.unlink()


def studies(tmp: Path, plan: Path, out: str, work: str, archives: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHON": sys.executable, "RCX_DEVCHECK_SITE": str(tmp / "site"),
                        "RCX_CACHE_DIR": str(tmp / "cache"), "OUT": str(tmp / out)}
    cmd = ["bash", str(ROOT / "benchmarks" / "gpu_studies.sh"), "--device", "cpu", "--budget", "600", "--threads", "1",
           "--work", str(tmp / work), "--archives", str(archives), str(plan)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_runs_a_cuda_plan_on_the_cpu_into_out_and_resumes_from_its_archive(tmp_path):
    plan = tiny_plan(tmp_path, n=3, output="runs/tiny_gpu.db")
    plan.write_text(plan.read_text().replace('device = "cpu"', 'device = "cuda"'))
    archives = tmp_path / "archives"
    archives.mkdir()

    first = studies(tmp_path, plan, "out1", "work1", archives)
    assert first.returncode == 0, first.stderr
    result = tmp_path / "out1" / "tiny_gpu.db.xz"
    assert result.is_file() and ok_rows(result, tmp_path) == 3
    assert "tiny_gpu: done (rc 0)" in first.stdout and "done 3/3, +3 this call" in first.stdout
    assert "no archive" in first.stdout

    shutil.copy(result, archives / result.name)  # as if committed: studies/results/NAME.db.xz
    second = studies(tmp_path, plan, "out2", "work2", archives)
    assert second.returncode == 0, second.stderr
    assert "unpacked 3 evaluations" in second.stdout and "done 3/3, +0 this call" in second.stdout
    assert "nothing new" in second.stdout and not (tmp_path / "out2" / "tiny_gpu.db.xz").exists()  # a slot of 8 kept


def test_no_plan_starts_once_out_holds_as_many_files_as_come_back(tmp_path):
    plan = tiny_plan(tmp_path, n=2, output="runs/tiny_gpu.db")
    out = tmp_path / "out"
    out.mkdir()
    for i in range(gpu_studies.OUT_MAX_FILES):
        (out / f"earlier{i}.db.xz").write_bytes(b"")
    archives = tmp_path / "archives"
    archives.mkdir()
    full = studies(tmp_path, plan, "out", "work", archives)
    assert full.returncode == 0, full.stderr
    assert "tiny_gpu: skipped (8 files" in full.stdout and not (out / "tiny_gpu.db.xz").exists()


def test_with_device_rewrites_only_the_top_level_device(tmp_path):
    plan = tmp_path / "p.toml"
    plan.write_text('name = "p"\ndevice = "cuda"  # the GPU\n\n[evaluators.x]\ndevice = "cuda"\n')
    table = gpu_studies.plan_table(plan)
    assert gpu_studies.with_device(plan, table, None, tmp_path) == plan
    assert gpu_studies.with_device(plan, table, "cuda", tmp_path) == plan
    copy = gpu_studies.with_device(plan, table, "cpu", tmp_path)
    assert copy != plan and copy.read_text() == 'name = "p"\ndevice = "cpu"\n\n[evaluators.x]\ndevice = "cuda"\n'
    bare = tmp_path / "bare.toml"
    bare.write_text('name = "b"\n[space]\nname = "ksd"\n')
    assert gpu_studies.plan_table(gpu_studies.with_device(bare, {}, "cpu", tmp_path))["device"] == "cpu"


def test_the_images_travel_as_one_tar_and_unpack_once(tmp_path):
    src = tmp_path / "c.zip"
    with zipfile.ZipFile(src, "w") as z:
        for name in ("train/cat/0000.jpg", "train/dog/0000.jpg", "test/cat/0000.jpg", "test/dog/0000.jpg"):
            z.writestr(name, name.encode())
    tar = tmp_path / "c.tar.xz"
    assert gpu_studies.images_tar(src, tar) == 4
    dest = tmp_path / "cifar10"
    assert "unpacked" in gpu_studies.unpack_images(dest, tar)
    assert (dest / "test" / "dog" / "0000.jpg").read_bytes() == b"test/dog/0000.jpg"
    assert "present" in gpu_studies.unpack_images(dest, tar)
    with pytest.raises(SystemExit, match="--prepare"):
        gpu_studies.unpack_images(tmp_path / "absent", tmp_path / "none.tar.xz")
