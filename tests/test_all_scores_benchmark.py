"""benchmarks/all_scores.py with ``--then COMMIT``: rcx at a commit, in a process of its own,
takes its turn beside the in-process settings (a tiny problem: 1 cell, C = 4, 20 images)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from cifar_subset import zip_path  # noqa: E402  benchmarks/

TINY = ["--archs", "1", "--threads", "1", "--images", "20", "--channels", "4", "--cells", "1"]


def _head() -> str | None:
    proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


needs_history = pytest.mark.skipif(_head() is None or not zip_path().exists(),
                                   reason="needs the repository's git history and the CIFAR-10 zip")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "all_scores.py"), *TINY, *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)


@needs_history
def test_then_times_the_commit_beside_the_settings():
    proc = _bench("--settings", "exact", "--then", "HEAD")
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = proc.stdout.split("CPU seconds per cell", 1)[1].splitlines()
    assert table[1].split() == ["evaluator", "exact", "then"]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in table[2:] if line.split()
            and line.split()[0] in ("naswot", "ridge_rfm", "zico", "total")}
    assert set(rows) == {"naswot", "ridge_rfm", "zico", "total"}
    assert all(v > 0 for values in rows.values() for v in values)  # both sides ran every evaluator
    assert "then / exact:" in proc.stdout


@needs_history
def test_then_refuses_an_unknown_commit_before_timing():
    proc = _bench("--settings", "exact", "--then", "no-such-commit-0000")
    assert proc.returncode == 2 and "CPU seconds per cell" not in proc.stdout
    assert "--then: git archive no-such-commit-0000" in proc.stderr and "Traceback" not in proc.stderr
