"""Plugin loading: built-ins through entry points, broken plugins reported, duplicates refused."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from rcx.api.evaluator import EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric, Option
from rcx.core.plan import PlanError, parse_plan
from rcx.plugins import PluginError, load_registry

from .conftest import fake_dist


def test_builtins_come_from_rcx_entry_points(registry):
    assert {"ksd", "depthmult"} <= set(registry.names("space"))
    assert "ridge_rfm" in registry.names("evaluator")
    assert {"synthetic", "imagefolder", "cifar10", "mnist", "stl10"} <= set(registry.names("dataset"))
    # everything comes from rcx except the plugin packages the test setup installs
    plugins = {"naswot": "rcx-naswot"} | dict.fromkeys(
        ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "zen", "zico"), "rcx-zerocost")
    dists = {e.name: e.dist for kind in ("space", "evaluator", "dataset") for e in registry.all(kind)}
    assert all(dists.get(name, dist) == dist for name, dist in plugins.items())
    assert {d for name, d in dists.items() if name not in plugins} == {"rcx"}


def _rcx(args: list[str], pythonpath: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(pythonpath), **env}
    return subprocess.run([sys.executable, "-m", "rcx", *args], capture_output=True, text=True, env=environ)


def test_broken_plugin_is_reported_and_others_load(tmp_path):
    fake_dist(tmp_path, "rcx-broken", "rcx_broken_plugin", "raise ImportError('this plugin is broken on purpose')\n")
    fake_dist(tmp_path, "rcx-raises-in-hook", "rcx_hook_raiser", (
        "from rcx.api.hooks import hookimpl\n"
        "@hookimpl\n"
        "def rcx_register_spaces(register):\n"
        "    raise RuntimeError('hook failed on purpose')\n"
    ))
    proc = _rcx(["plugins"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rcx-broken" in proc.stderr and "broken on purpose" in proc.stderr
    assert "rcx-raises-in-hook" in proc.stderr and "hook failed on purpose" in proc.stderr
    assert "ridge_rfm" in proc.stdout and "ksd" in proc.stdout

    strict = _rcx(["plugins"], tmp_path, RCX_STRICT_PLUGINS="1")
    assert strict.returncode == 2 and "rcx-broken" in strict.stderr


class EchoEvaluator(Evaluator):
    """A third-party evaluator: reports the architecture's parameter count."""

    name = "echo"
    options = [Option("scale", float, 1.0, "multiplier", min=0.0)]
    metrics = [Metric("value", "count", True)]

    def evaluate(self, ctx):
        return EvalResult("done", {"value": ctx.info.params * self.config["scale"]})


def _plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{k: hookimpl(v) for k, v in hooks.items()})


def test_duplicate_name_is_unusable_alone_and_names_both_distributions(capsys, monkeypatch):
    from rcx.plugins import NameClash
    from rcx.spaces.ksd import KsdSpace

    def rcx_register_spaces(register):
        register(KsdSpace)

    monkeypatch.delenv("RCX_STRICT_PLUGINS", raising=False)
    registry = load_registry([(_plugin(rcx_register_spaces=rcx_register_spaces), "rcx-copycat")])
    assert "depthmult" in registry.names("space") and "ksd" not in registry.names("space")  # the rest loads
    warning = capsys.readouterr().err
    assert "'rcx'" in warning and "'rcx-copycat'" in warning and "ksd" in warning
    with pytest.raises(NameClash) as info:
        registry.get("space", "ksd")
    message = str(info.value)
    assert "'rcx'" in message and "'rcx-copycat'" in message and "RCX_DISABLE_PLUGINS" in message
    with pytest.raises(PlanError, match="rcx-copycat"):  # a plan that uses the name says why
        parse_plan('[dataset]\nname = "synthetic"\n[space]\nname = "ksd"\n[evaluators.ridge_rfm]\n', registry)

    monkeypatch.setenv("RCX_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="rcx-copycat"):
        load_registry([(_plugin(rcx_register_spaces=rcx_register_spaces), "rcx-copycat")])


def test_third_party_evaluator_gets_plan_validation():
    def rcx_register_evaluators(register):
        register(EchoEvaluator)

    registry = load_registry([(_plugin(rcx_register_evaluators=rcx_register_evaluators), "rcx-echo")])
    assert registry.entries["evaluator"]["echo"].dist == "rcx-echo"
    text = '[dataset]\nname = "synthetic"\n[space]\nname = "ksd"\n[evaluators.echo]\nscale = -1\ncolour = 3\n'
    with pytest.raises(PlanError) as info:
        parse_plan(text, registry)
    paths = {p.path for p in info.value.problems}
    assert paths == {"evaluators.echo.scale", "evaluators.echo.colour"}


#: What a ``batch_size`` help must name: which batch the number sizes.
BATCH_KINDS = ("fixed scoring batch", "scoring batch of", "per forward pass", "training minibatch")


def test_every_batch_size_says_which_batch_it_sizes(registry):
    """A ``batch_size`` is one of three things (the score's fixed batch, the images per forward
    pass, the training minibatch); its help says which, for the built-ins, the bundled plugins
    and the example plugin of the docs."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "plugins"))
    try:
        from example_evaluator import MeanActivation
    finally:
        sys.path.pop(0)
    evaluators = [registry.get("evaluator", e.name) for e in registry.all("evaluator")] + [MeanActivation]
    helps = {c.name: o.help for c in evaluators for o in c.options if o.name == "batch_size"}
    assert {"naswot", "snip", "zen", "zico", "cvu", "ridge_rfm", "mean_activation"} <= set(helps)
    vague = {name: h for name, h in helps.items() if not any(k in h for k in BATCH_KINDS)}
    assert not vague, vague
