"""The third-party plugin package ``plugins/rcx-naswot``: installed, listed with its
distribution, usable from a plan, correct, and a broken copy of it does not stop rcx."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.spaces.ksd import KsdSpace

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "plugins" / "rcx-naswot"

PLAN = """
seed = 0
device = "cpu"
output = "{output}"
[dataset]
name = "synthetic"
n_train = 80
n_test = 10
image_size = 16
[space]
name = "ksd"
channels = 4
[sampler]
kind = "random"
n = 3
valid_only = true
[evaluators.naswot]
batch_size = 32
trials = 2
"""


@pytest.fixture(scope="module", autouse=True)
def installed():
    try:
        metadata.distribution("rcx-naswot")
    except metadata.PackageNotFoundError:
        pytest.fail("rcx-naswot is not installed in this environment: pip install -e plugins/rcx-naswot "
                    "(README's test command does it)")


def _rcx(args: list[str], cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "rcx", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_rcx_plugins_lists_naswot_with_its_distribution(tmp_path, registry):
    entry = registry.entries["evaluator"]["naswot"]
    assert entry.dist == "rcx-naswot" and entry.obj.__module__ == "rcx_naswot.evaluator"
    proc = _rcx(["plugins"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if " naswot " in ln)
    assert "rcx-naswot 0.1.0" in line and "evaluator" in line


def test_a_plan_using_naswot_runs_and_lands_in_the_store(tmp_path, registry):
    plan = parse_plan(PLAN.format(output=tmp_path / "naswot.db"), registry)
    store = Store.open(plan.output)
    run_id = Runner(plan, registry).run(store)
    rows = store.evaluations(run_id)
    versions = store.run(run_id).versions
    store.close()
    assert len(rows) == 3 and {r["evaluator"] for r in rows} == {"naswot"}
    assert versions["rcx-naswot"] == "0.1.0"
    for r in rows:
        assert r["state"] == "done", r["error"]
        assert len(r["trials"]) == 2 and r["metrics"]["relu_units"] > 0
        assert r["metrics"]["score"] == pytest.approx(sum(t["score"] for t in r["trials"]) / 2)


def test_score_is_the_log_determinant_of_the_hamming_kernel():
    from rcx_naswot.evaluator import naswot_score, relu_kernel

    space = KsdSpace(channels=4, layers=2)
    net = space.build(space.from_id("k3-3_s1-2_d1-1"), (3, 12, 12))
    x = torch.randn(10, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    kernel, units = relu_kernel(net, x)
    with torch.no_grad():  # by hand: concatenated codes of both ReLUs, K = N_A - hamming distance
        h1 = net[1](net[0](x))
        h2 = net[3](net[2](h1))
    codes = torch.cat([(h1 > 0).flatten(1), (h2 > 0).flatten(1)], 1).double()
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1).double()
    assert units == codes.shape[1]
    torch.testing.assert_close(kernel, codes.shape[1] - hamming)
    assert naswot_score(kernel) == pytest.approx(torch.linalg.slogdet(codes.shape[1] - hamming)[1].item())
    assert naswot_score(torch.ones(3, 3, dtype=torch.float64)) == float("-inf")


def test_a_broken_copy_is_reported_without_stopping_rcx(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(PACKAGE / "rcx_naswot", site / "rcx_naswot_broken")
    plugin = site / "rcx_naswot_broken" / "plugin.py"
    plugin.write_text("raise ImportError('rcx-naswot-broken raises on import on purpose')\n" + plugin.read_text())
    info = site / "rcx_naswot_broken-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rcx-naswot-broken\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[rcx]\nnaswot = rcx_naswot_broken.plugin\n")

    listed = _rcx(["plugins"], tmp_path, pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    assert "rcx-naswot-broken" in listed.stderr and "raises on import on purpose" in listed.stderr
    assert "rcx-naswot 0.1.0" in listed.stdout and "ridge_rfm" in listed.stdout

    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(output=tmp_path / "broken.db"))
    ran = _rcx(["run", "--headless", "-q", str(plan)], tmp_path, pythonpath=site)
    assert ran.returncode == 0, ran.stderr
    assert "rcx-naswot-broken" in ran.stderr
    store = Store.open_readonly(tmp_path / "broken.db")
    assert {r["state"] for r in store.evaluations(store.run().id)} == {"done"}
    store.close()
