"""Shared fixtures: an isolated cache directory, the plugin registry and tiny plans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

TINY_PLAN = """
name = "tiny"
seed = {seed}
device = "cpu"
output = "{output}"

[dataset]
name = "synthetic"
n_train = 120
n_test = 80

[space]
name = "ksd"
channels = 8

[sampler]
kind = "random"
n = {n}
valid_only = {valid_only}

[evaluators.ridge_rfm]
trials = {trials}
train_size = 100
val_size = 60
batch_size = 32
dtype = "float32"
{extra}
"""


def tiny_plan(tmp_path: Path, *, seed: int = 0, n: int = 4, valid_only: bool = True, extra: str = "", trials: int = 2,
              name: str = "plan.toml", output: str | None = None) -> Path:
    """Write a small, fast plan (synthetic data, ksd at 8 channels) and return its path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = output or str(tmp_path / "results.db")
    path = tmp_path / name
    path.write_text(TINY_PLAN.format(seed=seed, n=n, valid_only=str(valid_only).lower(), extra=extra, output=out,
                                     trials=trials))
    return path


def fake_dist(root: Path, name: str, module: str, source: str | None = None) -> None:
    """A minimal installed distribution under ``root`` (dist-info with an ``rcx`` entry point
    to ``module``) that importlib.metadata finds once ``root`` is on the path; ``source``, when
    given, becomes ``root/<module>.py``."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[rcx]\n{module.rpartition('.')[2]} = {module}\n")
    if source is not None:
        (root / f"{module}.py").write_text(source)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RCX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rcx-cache"))


@pytest.fixture(autouse=True)
def _one_thread_runs(monkeypatch):
    """Runs a test starts (in this process or in a subprocess) use one torch thread unless the
    test or the caller's environment says otherwise: two runs a test compares then sum in the
    same order whatever the machine's load (the auto rule could give them 2 threads and 1, which
    moves last digits), and tiny models run faster on one. tests/test_threads.py unsets it where
    it checks the auto rule."""
    monkeypatch.setenv("RCX_THREADS", os.environ.get("RCX_THREADS", "1"))


@pytest.fixture(scope="session")
def registry():
    from rcx.plugins import load_registry

    return load_registry()


@pytest.fixture
def torch_one_thread():
    """Run a test with one torch CPU thread: tiny models train faster, and on a busy 2-core
    machine OpenMP regions stop stalling for tens of milliseconds."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
