"""What a user of plugins meets: a clash disables one name only, plugins can be turned off, and
a plan that names a missing plugin's component says which package provides it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rcx.plugins
from rcx.cli import main, split_plugin_flags
from rcx.core.plan import PlanError, parse_plan, plan_needs
from rcx.plugins import DISABLE_ENV, load_registry

from .conftest import ROOT, fake_dist, tiny_plan

CLASHING = """
from rcx.api import EvalResult, Evaluator, Metric, hookimpl

class Echo(Evaluator):
    name = "echo"
    metrics = [Metric("value", "count", True)]

    def evaluate(self, ctx):
        return EvalResult("done", {"value": 1.0})

@hookimpl
def rcx_register_evaluators(register):
    register(Echo)
"""


def _rcx(args: list[str], pythonpath: Path, **env: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(pythonpath), os.environ.get("PYTHONPATH", "")])
    environ = {**os.environ, "PYTHONPATH": path, **env}
    environ.pop("RCX_STRICT_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "rcx", *args], capture_output=True, text=True, env=environ,
                          cwd=pythonpath)


@pytest.mark.slow
def test_a_clash_makes_only_its_name_unusable_and_a_flag_turns_one_off(tmp_path):
    fake_dist(tmp_path, "rcx-echo-one", "rcx_echo_one", CLASHING)
    fake_dist(tmp_path, "rcx-echo-two", "rcx_echo_two", CLASHING)
    listing = _rcx(["spaces"], tmp_path)
    assert listing.returncode == 0, listing.stderr  # a command that uses neither works
    assert "rcx-echo-one" in listing.stderr and "rcx-echo-two" in listing.stderr  # the clash is reported
    plugins = _rcx(["plugins"], tmp_path)
    assert plugins.returncode == 0 and "unusable" in plugins.stdout and "echo" in plugins.stdout
    plan = tmp_path / "echo.toml"
    plan.write_text('[dataset]\nname = "synthetic"\n[space]\nname = "ksd"\n[evaluators.echo]\n')
    used = _rcx(["validate", str(plan)], tmp_path)
    assert used.returncode == 2 and "'rcx-echo-one'" in used.stderr and "'rcx-echo-two'" in used.stderr
    for off in (["-p", "no:rcx-echo-two"], ["--disable-plugin", "rcx_echo_two"]):
        fixed = _rcx([*off, "validate", str(plan)], tmp_path)
        assert fixed.returncode == 0, fixed.stderr
        assert "rcx-echo-two" not in fixed.stderr
    by_env = _rcx(["validate", str(plan)], tmp_path, **{DISABLE_ENV: "rcx-echo-one"})
    assert by_env.returncode == 0, by_env.stderr


def test_plugin_flags_are_taken_out_anywhere():
    rest, names = split_plugin_flags(["-p", "no:naswot", "validate", "--disable-plugin=rcx-zerocost", "x.toml",
                                      "-pno:cvu", "--disable-plugin", "y"])
    assert rest == ["validate", "x.toml"] and names == ["naswot", "rcx-zerocost", "cvu", "y"]
    assert split_plugin_flags(["results", "--", "-p"]) == (["results", "--", "-p"], [])


def test_p_without_no_is_a_usage_error(capsys):
    assert main(["-p", "naswot", "spaces"]) == 2
    assert "no:NAME" in capsys.readouterr().err


@pytest.fixture
def fresh_registry(monkeypatch):
    """Each test loads its own registry; the environment and the cache come back afterwards."""
    monkeypatch.setenv(DISABLE_ENV, "")
    monkeypatch.setattr(rcx.plugins, "_cached", None)


def test_disabled_plugin_is_not_loaded_and_plans_say_so(fresh_registry, capsys):
    assert main(["-p", "no:naswot", "validate", str(ROOT / "examples" / "nb201_study.toml")]) == 2
    err = capsys.readouterr().err
    assert "unknown evaluator 'naswot'" in err and "rcx-naswot" in err and "disabled" in err
    assert "naswot" not in rcx.plugins.get_registry().names("evaluator")
    assert os.environ[DISABLE_ENV] == "naswot"  # worker processes inherit it
    assert main(["plugins"]) == 0
    assert "(disabled)" in capsys.readouterr().out


def test_a_worker_takes_exactly_the_drivers_disabled_plugins(fresh_registry, monkeypatch, tmp_path, registry):
    """The Ray worker's setup (a plain class here): the set the driver hands it replaces the one
    its own process's environment holds (a node's setting), for the plugins it loads and the
    processes it starts."""
    from rcx.core.plan import load_plan
    from rcx.exec.worker import EvalWorker

    monkeypatch.setenv(DISABLE_ENV, "rcx-zerocost")  # this node's own setting
    plan = load_plan(tiny_plan(tmp_path, n=1), registry)
    EvalWorker("w0", plan.text, plan.source, plan.hash, "cpu", 1, disabled=["naswot"]).setup()
    assert os.environ[DISABLE_ENV] == "naswot"
    names = rcx.plugins.get_registry().names("evaluator")
    assert "naswot" not in names and "zico" in names
    rcx.plugins.set_disabled_plugins([])
    assert DISABLE_ENV not in os.environ and "naswot" in rcx.plugins.get_registry().names("evaluator")


def test_a_missing_plugin_package_is_named_once_without_follow_on_errors(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "naswot,rcx-zerocost")
    registry = load_registry()
    with pytest.raises(PlanError) as info:
        parse_plan((ROOT / "examples" / "funnel_nb201.toml").read_text(), registry)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 2, messages  # one per package; no "by = 'zico.score' names no earlier table"
    assert any("'naswot'" in m and "rcx-naswot" in m for m in messages)
    assert any("'zico'" in m and "rcx-zerocost" in m for m in messages)

    monkeypatch.setenv(DISABLE_ENV, "")
    bare = load_registry(entry_points=False)  # nothing installed: the install hint
    with pytest.raises(PlanError, match=r"plugin package rcx-zerocost, which is not installed") as info:
        parse_plan((ROOT / "examples" / "nb201_study_zerocost.toml").read_text(), bare)
    assert len([p for p in info.value.problems if "rcx-zerocost" in p.message]) == 1  # eight evaluators, one line


def test_the_needs_line_names_an_unknown_package(registry):
    text = ('# needs: rcx-mine\n# a plan\n[dataset]\nname = "synthetic"\n[space]\nname = "ksd"\n'
            '[evaluators.mine]\n')
    assert plan_needs(text) == ["rcx-mine"]
    with pytest.raises(PlanError,
                       match=r"unknown evaluator 'mine'.*rcx-mine .the plan.s .# needs:. line., "
                             r"which is not installed"):
        parse_plan(text, registry)
