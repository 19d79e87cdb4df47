"""The Plan screen's model: text fields to values, TOML out, the validator's messages back."""

from __future__ import annotations

from rcx.api.options import Option
from rcx.core.plan import load_plan
from rcx.tui.forms import UNSET, PlanDraft, device_choices, errors_by_key, parse_text, space_summary

from ..conftest import tiny_plan


def test_parse_text_reads_toml_literals_and_keeps_the_rest():
    opt = Option("n", int, 1, "")
    assert parse_text(opt, "") is UNSET
    assert parse_text(opt, " 12 ") == 12
    assert parse_text(opt, "abc") == "abc"  # left for the validator to reject
    assert parse_text(Option("l", list, None, ""), "[3, 5]") == [3, 5]
    assert parse_text(Option("s", str, "x", ""), "loo") == "loo"


def test_a_plan_round_trips_through_the_draft(tmp_path, registry):
    path = tiny_plan(tmp_path)
    plan = load_plan(path, registry)
    draft = PlanDraft.from_toml(path.read_text(), path)
    again, problems = draft.validate(registry)
    assert problems == [] and again.hash == plan.hash and again.output == plan.output


def test_invalid_values_get_the_validators_messages(tmp_path, registry):
    draft = PlanDraft.from_toml(tiny_plan(tmp_path).read_text())
    draft.evaluators["ridge_rfm"].values["trials"] = 0
    draft.sampler["n"] = "many"
    plan, problems = draft.validate(registry)
    assert plan is None
    messages = errors_by_key(problems)
    assert messages["evaluators.ridge_rfm.trials"] == "must be int >= 1, got 0"
    assert messages["sampler.n"] == "must be int >= 1, got 'many'"  # one message, no "needs n" after it


def test_space_summary_and_devices(registry):
    draft = PlanDraft()
    assert space_summary(registry, draft) == "46,656 architectures; the sampler draws 40 that fit the input"
    draft.space.values["layers"] = 2
    draft.sampler = {"kind": "exhaustive"}
    assert space_summary(registry, draft) == "1,296 architectures; the sampler draws 1,296"
    assert [v for _, v in device_choices()][:2] == ["auto", "cpu"]
