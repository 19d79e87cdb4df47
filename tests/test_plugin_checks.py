"""Plugin mistakes are caught where they are made (issue 11, part 3): declarations when a plugin
registers, misspelled or unmarked hooks when it loads, undeclared results when an evaluation
returns. Each message names the plugin, its distribution and the fix."""

from __future__ import annotations

import types

import pytest

from rcx.api import EvalResult, Evaluator, Metric, Option, hookimpl
from rcx.plugin_checks import ResultChecker, ResultError, declaration_problems
from rcx.plugins import PluginError, load_registry
from rcx.testing import make_registry, plan_text, run_plan


class Fine(Evaluator):
    name = "fine"
    options = [Option("k", int, 2, "k", min=1), Option("mode", str, "a", "mode", choices=("a", "b"))]
    metrics = [Metric("value", "count", True)]

    def evaluate(self, ctx):
        return EvalResult("done", {"value": float(ctx.info.params)})


def _variant(**attrs) -> type:
    return type("Bad", (Fine,), {"name": "bad", "__module__": __name__, **attrs})


@pytest.mark.parametrize("attrs, words", [
    ({"options": [Option("mode", str, "c", "mode", choices=("a", "b"))]}, ["'mode'", "default 'c'", "choices"]),
    ({"options": [Option("k", int, 0, "k", min=1)]}, ["'k'", "default 0", ">= 1", "bounds"]),
    ({"options": [Option("k", int, "2", "k")]}, ["'k'", "default '2'", "type"]),
    ({"options": [Option("k", int, 1, "k"), Option("k", int, 2, "k")]}, ["declared twice"]),
    ({"options": [Option("k", int, 5, "k", min=10, max=1)]}, ["min 10 is above max 1"]),
    ({"metrics": [Metric("a.b", "count", True)]}, ["'a.b'", "no '.'"]),
    ({"metrics": [Metric("v", 3, True)]}, ["unit must be a string"]),
    ({"metrics": [Metric("v", "count", "higher")]}, ["higher_is_better must be True or False"]),
    ({"statuses": ("done", "running")}, ["'running'"]),
    ({"headline": ("nope",)}, ["headline names 'nope'"]),
    ({"name": "has space"}, ["not a plain name"]),
])
def test_declaration_problems_are_found_with_their_fix(attrs, words):
    problems = declaration_problems("evaluator", _variant(**attrs))
    assert problems and all(w in problems[0] for w in words), problems
    assert declaration_problems("evaluator", Fine) == []


def test_spaces_and_datasets_need_their_methods():
    class NoLoad:
        name = "no_load"
        options = []

    class HalfSpace:
        name = "half"
        options = [Option("width", int, 4, "w", min=8)]

        def __len__(self):
            return 1

    assert declaration_problems("dataset", NoLoad) == \
        ["it has no load: subclass rcx.api.DatasetProvider and implement it"]
    problems = declaration_problems("space", HalfSpace)
    assert any("default 4 must be int >= 8" in p for p in problems)
    assert any("arch_at, from_id, describe, build" in p and "SearchSpace" in p for p in problems)


def _plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hooks)


def test_a_bad_declaration_is_not_registered_and_is_reported(capsys, monkeypatch):
    monkeypatch.delenv("RCX_STRICT_PLUGINS", raising=False)
    bad = _variant(options=[Option("k", int, 0, "k", min=1)])

    def rcx_register_evaluators(register):
        register(bad)
        register(Fine)  # the plugin's other components still register

    registry = load_registry([(_plugin(rcx_register_evaluators=hookimpl(rcx_register_evaluators)), "rcx-bad")],
                             entry_points=False)
    assert registry.names("evaluator") == ["fine"]
    err = capsys.readouterr().err
    assert "evaluator 'bad'" in err and "distribution 'rcx-bad'" in err and "test_plugin_checks.Bad" in err
    with pytest.raises(PluginError, match="default 0"):
        make_registry(_plugin(rcx_register_evaluators=hookimpl(rcx_register_evaluators)), entry_points=False)


def test_misspelled_and_unmarked_hooks_are_reported(capsys, monkeypatch):
    monkeypatch.delenv("RCX_STRICT_PLUGINS", raising=False)

    def rcx_register_space(register):  # singular: not an rcx hook
        pass

    def rcx_register_spaces(register):  # right name, but no @hookimpl
        pass

    load_registry([(_plugin(rcx_register_space=hookimpl(rcx_register_space)), "rcx-typo"),
                   (_plugin(rcx_register_spaces=rcx_register_spaces), "rcx-unmarked")], entry_points=False)
    err = capsys.readouterr().err
    assert "'rcx_register_space', which is not an rcx hook" in err and "did you mean 'rcx_register_spaces'" in err
    assert "distribution 'rcx-typo'" in err
    assert "'rcx_register_spaces' without @hookimpl" in err and "distribution 'rcx-unmarked'" in err
    monkeypatch.setenv("RCX_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="rcx_register_space"):
        load_registry([(_plugin(rcx_register_space=hookimpl(rcx_register_space)), "rcx-typo")], entry_points=False)


class Sloppy(Evaluator):
    """Returns a metric it does not declare, and for one candidate an undeclared status."""

    name = "sloppy"
    metrics = [Metric("value", "count", True)]

    def evaluate(self, ctx):
        return EvalResult("odd" if ctx.arch.id.startswith("k1") else "done", {"value": 1.0, "extra_metric": 2.0})


def test_result_checker_warns_once_normally_and_raises_when_strict():
    warnings: list[str] = []
    checker = ResultChecker(strict=False, warn=warnings.append, dists={Sloppy: "rcx-sloppy"})
    evaluator = Sloppy({})
    assert checker.check(evaluator, "done", ["value", "extra_metric"], "s") == ("done", "")
    assert checker.check(evaluator, "done", ["value", "extra_metric"], "s") == ("done", "")
    assert len(warnings) == 1 and "'extra_metric'" in warnings[0] and "rcx-sloppy" in warnings[0]
    assert "add Metric('extra_metric'" in warnings[0]
    status, error = checker.check(evaluator, "odd", ["value"])
    assert status == "failed" and "'odd'" in error and "does not declare" in error
    assert "statuses" in warnings[-1]
    with pytest.raises(ResultError, match="extra_metric"):
        ResultChecker(strict=True).check(evaluator, "done", ["extra_metric"])


def test_the_test_kit_run_is_strict_about_results(tmp_path):
    registry = make_registry(_plugin(rcx_register_evaluators=hookimpl(lambda register: register(Sloppy))),
                             entry_points=True)
    text = plan_text(["sloppy"], n=2)
    with pytest.raises(ResultError, match="distribution 'test-plugin'.*'extra_metric'"):
        run_plan(registry, text, tmp_path / "strict")
    table = run_plan(registry, text, tmp_path / "lenient", strict=False)
    assert len(table.rows) == 2 and all(r["sloppy.extra_metric"] == 2.0 for r in table.rows)


@pytest.mark.parametrize("metric", [
    Metric("seconds", "s", False), Metric("throughput", "img/s", True), Metric("params", "count", False),
    Metric("score_std", "nats", False), Metric("fit_seconds", "", False),
])
def test_the_test_kit_refuses_a_time_size_or_spread_declared_a_score(metric):
    """Metric roles: such a metric must be declared rcx.api.DESCRIPTION (strict mode, the test kit)."""
    from rcx.api import DESCRIPTION

    timed = type("Timed", (Fine,), {"name": "timed", "__module__": __name__,
                                     "metrics": [Metric("value", "count", True), metric]})
    plugin = _plugin(rcx_register_evaluators=hookimpl(lambda register: register(timed)))
    with pytest.raises(PluginError, match=f"'{metric.name}'.*role=rcx.api.DESCRIPTION"):
        make_registry(plugin, entry_points=False)
    assert "timed" in make_registry(plugin, entry_points=False, strict=False).names("evaluator")  # lenient: loads
    described = type("Described", (Fine,), {"name": "described", "__module__": __name__, "metrics": [
        Metric("value", "count", True), Metric(metric.name, metric.unit, metric.higher_is_better, role=DESCRIPTION)]})
    ok = _plugin(rcx_register_evaluators=hookimpl(lambda register: register(described)))
    assert "described" in make_registry(ok, entry_points=False).names("evaluator")


def test_a_role_must_be_score_or_description():
    problems = declaration_problems("evaluator", _variant(metrics=[Metric("v", "count", True, role="time")]))
    assert problems and "role must be rcx.api.SCORE or rcx.api.DESCRIPTION" in problems[0]


def test_every_installed_evaluator_declares_its_roles():
    """Built-ins and both plugins pass the test kit's role check (and load strictly)."""
    from rcx.plugin_checks import role_problems

    registry = make_registry()
    assert {"naswot", "synflow", "ridge_rfm", "cvu", "trained"} <= set(registry.names("evaluator"))
    for entry in registry.all("evaluator"):
        assert role_problems(entry.obj.metrics) == [], entry.name
        assert any(m.is_score for m in entry.obj.metrics), entry.name
