"""Execution settings, the executor factory, and the in-process path staying free of Ray."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rcx.core.runner import ExecutorError
from rcx.exec import ExecutionSettings, make_executor
from rcx.exec.in_process import InProcessExecutor
from rcx.exec.settings import RAY_MISSING

from .conftest import ROOT, tiny_plan


def test_default_is_in_process():
    assert isinstance(make_executor(), InProcessExecutor)
    assert isinstance(make_executor(ExecutionSettings()), InProcessExecutor)


@pytest.mark.parametrize(("settings", "fragment"), [
    (ExecutionSettings("dask"), "expected one of in-process, ray"),
    (ExecutionSettings("ray", workers=0), "workers 0"),
    (ExecutionSettings("ray", gpus_per_worker=-1.0), "gpus per worker -1"),
    (ExecutionSettings("ray", gpus_per_worker=1.5), "whole number"),
    (ExecutionSettings("ray", cpus_per_worker=0.0), "cpus per worker 0"),
    (ExecutionSettings("ray", threads_per_worker=0), "threads per worker 0"),
    (ExecutionSettings(workers=2, address="auto"), "--address, --workers only apply to --executor ray"),
])
def test_bad_settings_are_refused_with_one_message(settings, fragment):
    assert any(fragment in p for p in settings.problems())
    with pytest.raises(ExecutorError, match=fragment.replace("(", r"\(").split(",")[0]):
        make_executor(settings)


def test_good_settings_and_their_defaults():
    s = ExecutionSettings("ray", workers=4, gpus_per_worker=0.25, cpus_per_worker=2.0)
    assert s.problems() == []
    assert s.threads() == 2 and ExecutionSettings("ray", threads_per_worker=3).threads() == 3
    assert ExecutionSettings("ray", cpus_per_worker=0.5).threads() == 1
    assert "4 workers" in s.describe() and "0.25 GPU" in s.describe()


def test_missing_ray_says_how_to_install(monkeypatch):
    import rcx.exec

    monkeypatch.setattr(rcx.exec, "ray_available", lambda: False)
    with pytest.raises(ExecutorError) as info:
        make_executor(ExecutionSettings("ray"))
    assert str(info.value) == RAY_MISSING and 'pip install "rcx[ray]"' in RAY_MISSING


def test_cli_missing_ray_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    import rcx.exec
    from rcx.cli import main

    monkeypatch.setattr(rcx.exec, "ray_available", lambda: False)
    assert main(["run", "--headless", str(tiny_plan(tmp_path)), "--executor", "ray", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rcx: error: {RAY_MISSING}"]
    assert not (tmp_path / "results.db").exists()


def test_cli_refuses_ray_flags_without_ray_executor(tmp_path, capsys):
    from rcx.cli import main

    assert main(["run", "--headless", str(tiny_plan(tmp_path)), "--workers", "2"]) == 2
    assert "--workers only apply to --executor ray" in capsys.readouterr().err


def test_core_never_imports_exec_or_ray():
    """rcx.core builds no executor of its own but the in-process one: no import of rcx.exec or ray."""
    import re

    statement = re.compile(r"^\s*(from\s+(rcx\.exec|ray)\b|import\s+(rcx\.exec|ray)\b)", re.M)
    for path in (ROOT / "rcx" / "core").rglob("*.py"):
        assert not statement.search(path.read_text()), path


def test_in_process_run_imports_no_ray(tmp_path):
    """A whole headless run on the default path never imports Ray (nor the Ray executor)."""
    plan = tiny_plan(tmp_path, n=2)
    code = (
        "import sys\n"
        "from rcx.cli import main\n"
        f"assert main(['run', '--headless', {str(plan)!r}, '-q']) == 0\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'ray' or m == 'rcx.exec.ray_executor']\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, stdin=subprocess.DEVNULL,
                   cwd=tmp_path)


def test_local_ray_never_joins_a_running_cluster(monkeypatch):
    """Without --address the executor starts its own instance: address "local", not None
    (None would join a cluster already running on this machine)."""
    ray = pytest.importorskip("ray")
    from rcx.exec.ray_executor import RayExecutor

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    RayExecutor(ExecutionSettings("ray", workers=2)).connect()
    assert calls[0]["address"] == "local" and calls[0]["include_dashboard"] is False


def test_plan_identity_holds_the_device_kind(registry, tmp_path):
    """cuda:1 and cuda:0 are one plan; a file written when the hash held cuda:0 still matches."""
    import hashlib
    import json

    from rcx.core.plan import parse_plan

    text = tiny_plan(tmp_path).read_text()
    plans = {d: parse_plan(text.replace('device = "cpu"', f'device = "{d}"'), registry)
             for d in ("cuda:0", "cuda:1", "cuda", "cpu")}
    assert plans["cuda:0"].hash == plans["cuda:1"].hash == plans["cuda"].hash != plans["cpu"].hash
    old = {**plans["cuda:0"].normalized(), "device": "cuda:0"}  # what older rcx stored
    old_hash = hashlib.sha256(json.dumps(old, sort_keys=True, default=str).encode()).hexdigest()[:16]
    stored = json.loads(json.dumps(old, sort_keys=True, default=str))
    assert old_hash != plans["cuda:1"].hash and plans["cuda:1"].matches(old_hash, stored)
    assert not plans["cpu"].matches(old_hash, stored)
