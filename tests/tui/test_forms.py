"""The Plan screen's model: text fields to values, TOML out, the validator's messages back."""

from __future__ import annotations

import tomli

from rcx.api.options import Option
from rcx.core.plan import load_plan, top_options
from rcx.tui.app import RcxApp
from rcx.tui.forms import FORM_TOP, UNSET, PlanDraft, device_choices, errors_by_key, parse_text, space_summary

from ..conftest import tiny_plan
from .conftest import settle, sync, wait_for


def _status(app) -> str:
    return str(app.screen.query_one("#plan-status").render())


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


FULL_PLAN = '''
name = "full"
description = "every kind of key, some spelled out at their defaults"
seed = 3
device = "cpu"
output = "runs/full.db"
seeed = 4  # misspelled: kept, so the validator names it

[dataset]
name = "synthetic"
selection = "first"
grayscale_to_rgb = false
n_train = 120

[space]
name = "ksd"
channels = 8

[sampler]
kind = "grid"
n = 4
valid_only = false

[evaluators.ridge_rfm]
evaluator = "ridge_rfm"
trials = 2
dtype = "float32"

[evaluators.second]
evaluator = "ridge_rfm"
top = 2
by = "ridge_rfm.val_acc"
trails = 3
'''


def test_a_draft_keeps_every_key_of_the_plan(tmp_path):
    path = tmp_path / "full.toml"
    path.write_text(FULL_PLAN)
    draft = PlanDraft.from_toml(FULL_PLAN, path)
    assert set(FORM_TOP) <= {o.name for o in top_options()}  # the form's top keys are declared plan keys
    assert draft.extra == {"description": "every kind of key, some spelled out at their defaults", "seeed": 4}
    assert tomli.loads(draft.to_toml()) == tomli.loads(FULL_PLAN)


@sync
async def test_the_plan_screen_keeps_every_key_of_the_plan(tmp_path, registry):
    """Loaded into the Plan screen and read back from its forms (as ctrl+s saves it), the plan
    keeps its description, its unknown keys, values at their defaults and invalid choices."""
    path = tmp_path / "full.toml"
    path.write_text(FULL_PLAN)
    app = RcxApp(registry, PlanDraft.from_toml(FULL_PLAN, path), FULL_PLAN)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_settled() and "problem" in _status(app), what="the check")
        await settle(pilot)  # the device listing done too
        assert tomli.loads(app.screen.collect().to_toml()) == tomli.loads(FULL_PLAN)
        # the validator still names what is wrong
        assert {"seeed", "sampler.kind", "evaluators.second.trails"} <= {p.path for p in app.screen.problems}


@sync
async def test_a_sampler_key_added_to_the_declaration_is_a_field(tmp_path, registry):
    from rcx.core.samplers import SAMPLER_OPTIONS
    from rcx.tui.widgets.option_form import field_id

    new = Option("brand_new", int, 1, "a key added to the declaration", min=1)
    SAMPLER_OPTIONS.append(new)
    try:
        path = tiny_plan(tmp_path)
        app = RcxApp(registry, PlanDraft.from_toml(path.read_text(), path), path.read_text())
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.screen.is_settled() and "plan ok" in _status(app), what="the check")
            await settle(pilot)  # the device listing done too
            app.screen.query_one(f"#{field_id('sampler.brand_new')}").value = "5"
            assert app.screen.collect().sampler["brand_new"] == 5
    finally:
        SAMPLER_OPTIONS.remove(new)
