"""What a plugin author meets: NaN results fail with the metric named, spaces canonicalise ids,
truth tables come from rcx.api, and the test kit asserts results and plan errors."""

from __future__ import annotations

import math
import re
import types

import pytest

import rcx.api
from rcx.api import Arch, EvalResult, Evaluator, Metric, SearchSpace, TruthTable, hookimpl
from rcx.plugin_checks import ResultError
from rcx.testing import assert_plan_error, assert_results_ok, check_space, make_registry, plan_text, run_plan


class Score(Evaluator):
    """Returns ``value`` as its score (NaN or infinity when asked)."""

    name = "fixed_score"
    options = [rcx.api.Option("value", float, 1.0, "the score to return")]
    metrics = [Metric("score", "count", True), Metric("other", "count", True)]

    def evaluate(self, ctx):
        value = self.config["value"]
        if value < 0:  # the plan cannot write NaN: -1 asks for it, -2 for infinity in a trial
            return EvalResult("done", {"score": math.nan, "other": 1.0} if value == -1 else {"score": 1.0},
                              trials=[{"score": 1.0}, {"score": math.inf}] if value == -2 else [])
        return EvalResult("done", {"score": value, "other": 1.0})


def _plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{k: hookimpl(v) for k, v in hooks.items()})


@pytest.fixture(scope="module")
def score_registry():
    def rcx_register_evaluators(register):
        register(Score)

    return make_registry(_plugin(rcx_register_evaluators=rcx_register_evaluators), strict=False)


# -- NaN and infinity ---------------------------------------------------------------------------
def test_a_nan_metric_fails_the_evaluation_with_the_metric_named(score_registry, tmp_path, monkeypatch):
    monkeypatch.delenv("RCX_STRICT_PLUGINS", raising=False)
    table = run_plan(score_registry, plan_text({"fixed_score": {"value": -1}}, n=2), tmp_path, strict=False)
    assert [r["fixed_score.status"] for r in table.rows] == ["failed", "failed"]  # not "done" with a null score
    assert all("'score' is nan" in r["fixed_score.error"] for r in table.rows)
    table = run_plan(score_registry, plan_text({"fixed_score": {"value": -2}}, n=1), tmp_path / "b", strict=False)
    assert "'trials[1].score'" in table.rows[0]["fixed_score.error"]
    with pytest.raises(AssertionError, match=r"failed: metric 'score' is nan"):
        assert_results_ok(run_plan(score_registry, plan_text({"fixed_score": {"value": -1}}, n=1), tmp_path / "c",
                                   strict=False))


def test_strict_mode_raises_on_a_nan_metric(score_registry, tmp_path):
    with pytest.raises(ResultError, match=r"'score' is NaN or infinite"):
        run_plan(score_registry, plan_text({"fixed_score": {"value": -1}}, n=1), tmp_path)  # the test kit's default


def test_assert_results_ok_passes_a_good_run(score_registry, tmp_path):
    table = run_plan(score_registry, plan_text({"fixed_score": {"value": 2.0}}, n=2), tmp_path)
    assert_results_ok(table)
    assert {"arch", "params", "flops", "fixed_score.status", "fixed_score.score",
            "fixed_score.error"} <= set(table.columns)


def test_assert_plan_error(score_registry):
    text = plan_text({"fixed_score": {"value": 1.0}}).replace("value = 1.0", 'value = "high"')
    error = assert_plan_error(score_registry, text, path="evaluators.fixed_score.value", match="float")
    assert error.problems[0].line > 0
    with pytest.raises(AssertionError, match="accepted"):
        assert_plan_error(score_registry, plan_text({"fixed_score": {}}))
    with pytest.raises(AssertionError, match="no problem matches"):
        assert_plan_error(score_registry, text, match="colour")


# -- canonical ids ------------------------------------------------------------------------------
class Chain(SearchSpace):
    """A space of 'c<a>-<b>' chains; ``canonicalises`` says whether from_id rebuilds the id
    (True) or keeps the spelling it was given (False: the bug the core must catch)."""

    name = "chain"

    def __init__(self, canonicalises: bool = True) -> None:
        super().__init__()
        self.canonicalises = canonicalises
        self.pairs = [(a, b) for a in (4, 8) for b in (16, 32)]

    def __len__(self) -> int:
        return len(self.pairs)

    def arch_at(self, index: int) -> Arch:
        a, b = self.pairs[index]
        return Arch(self.name, f"c{a}-{b}", {"a": a, "b": b})

    def from_id(self, arch_id: str) -> Arch:
        m = re.fullmatch(r"c(\d+)-(\d+)", arch_id)
        if not m or (int(m[1]), int(m[2])) not in self.pairs:
            raise ValueError(f"{arch_id!r} is not a chain id")
        a, b = int(m[1]), int(m[2])
        return Arch(self.name, f"c{a}-{b}" if self.canonicalises else arch_id, {"a": a, "b": b})

    def describe(self, arch, in_shape):
        raise NotImplementedError

    def build(self, arch, in_shape):
        raise NotImplementedError


class DeclaredChain(Chain):
    """The same space with its canonical form declared: from_id may keep any spelling."""

    def canonical(self, arch_id: str) -> str:
        a, b = self.from_id(arch_id).params.values()
        return f"c{a}-{b}"


def _space(canonicalises: bool) -> Chain:
    return Chain(canonicalises)


def test_the_ids_sampler_maps_spellings_to_one_canonical_id():
    from rcx.core.samplers import parse_ids

    ids, problems = parse_ids(_space(True), list(enumerate(["c8-16", "c08-16", "c8-016", "c4-32"])))
    assert ids == ["c8-16", "c4-32"] and problems == []


def test_a_space_that_keeps_spellings_is_refused_not_evaluated_twice():
    from rcx.core.samplers import parse_ids

    ids, problems = parse_ids(_space(False), list(enumerate(["c8-16", "c08-16", "c8-016"])))
    assert ids == ["c8-16"]
    assert [w for w, _ in problems] == [1, 2] and "'c08-16' and 'c8-16' are one chain architecture" in problems[0][1]


def test_a_declared_canonical_form_fixes_such_a_space():
    from rcx.core.samplers import parse_ids

    assert parse_ids(DeclaredChain(canonicalises=False), list(enumerate(["c08-16", "c8-16"]))) == (["c8-16"], [])


def test_check_space_catches_a_space_that_keeps_non_canonical_spellings():
    from rcx.testing import _check_canonical, _respellings

    _check_canonical(_space(True), "c8-16", _respellings("c8-16"))
    with pytest.raises(AssertionError, match=r"accepts 'c08-016' for 'c8-16'.*two ids"):
        _check_canonical(_space(False), "c8-16", _respellings("c8-16"))


def test_check_space_checks_declared_aliases():
    ksd = make_registry().get("space", "ksd")(channels=4, layers=1)
    check_space(ksd, aliases={"k03_s1_d1": "k3_s1_d1"})
    with pytest.raises(AssertionError, match="aliases"):
        check_space(ksd, aliases={"k03_s1_d1": "k5_s1_d1"})


def test_search_proposals_are_canonical():
    from rcx.core.search import Search, optuna_available

    if not optuna_available():
        pytest.skip("optuna not installed")

    class Padded(type(make_registry().get("space", "ksd")(channels=4, layers=1))):
        def from_grid(self, values):  # a space whose grid spells ids its own way
            arch = super().from_grid(values)
            return Arch(arch.space, arch.id.replace("k", "k0"), arch.params)

    from rcx.core.search import Objective

    search = Search(Padded(channels=4, layers=1), [Objective("params", False)], "random", 0)
    proposal = search.ask()
    assert proposal.arch is not None and "k0" not in proposal.arch.id


# -- space options -------------------------------------------------------------------------------
class Widths(SearchSpace):
    """A third-party space that declares options and leaves their checking to SearchSpace."""

    name = "widths"
    options = [rcx.api.Option("width", int, 4, "channels", min=1, max=64),
               rcx.api.Option("mode", str, "a", "a or b", choices=("a", "b"))]

    def __len__(self) -> int:
        return 1

    def arch_at(self, index: int) -> Arch:
        return Arch(self.name, f"w{self.config['width']}", {"width": self.config["width"]})

    def from_id(self, arch_id: str) -> Arch:
        return self.arch_at(0)

    def describe(self, arch, in_shape):
        raise NotImplementedError

    def build(self, arch, in_shape):
        raise NotImplementedError


def test_a_third_party_space_gets_its_options_checked_like_a_built_in():
    assert Widths(width=8).config == {"width": 8, "mode": "a"}
    with pytest.raises(ValueError) as bad:
        Widths(width=0, mode="c", depth=3)
    message = str(bad.value)
    assert message.count("; ") == 2, message
    assert "widths.width: must be int >= 1" in message and "got 0" in message
    assert "widths.mode:" in message and "'c'" in message
    assert "widths.depth: unknown option (known: mode, width)" in message
    # the built-ins give the same messages from the same place
    with pytest.raises(ValueError, match=r"^ksd\.layers: must be int >= 1"):
        make_registry().get("space", "ksd")(layers=0)


# -- truth tables through rcx.api ----------------------------------------------------------------
def test_a_truth_table_needs_only_rcx_api():
    assert {"TruthTable", "TruthValues"} <= set(rcx.api.__all__)

    class Tiny(TruthTable):
        name = "tiny"
        space = "ksd"
        subsets = (Metric("acc", "%", True),)

        def load(self):
            return {"k3-3-3_s1-1-1_d1-1-1": {"acc": 50.0}}

    def rcx_register_truths(register):
        register(Tiny)

    registry = make_registry(_plugin(rcx_register_truths=rcx_register_truths))
    assert registry.truths["tiny"] is Tiny
