"""`rcx schema`: the JSON Schema of plan files, made from the validator's own declarations."""

from __future__ import annotations

import dataclasses
import json

import jsonschema  # the test extra's
import pytest
import tomli

from rcx.api.options import Option
from rcx.cli import main
from rcx.core.schema import DIALECT, option_schema, plan_schema

from .conftest import ROOT, TINY_PLAN
from .test_plan import missing_distributions

PLANS = sorted([*(ROOT / "examples").glob("*.toml"), *(ROOT / "studies" / "plans").glob("*.toml")])


@pytest.fixture(scope="module")
def validator():
    from rcx.plugins import load_registry

    schema = plan_schema(load_registry())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _tiny() -> dict:
    return tomli.loads(TINY_PLAN.format(seed=0, n=4, valid_only="true", extra="", output="r.db", trials=2))


def _errors(validator, plan: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(plan)]


@pytest.mark.parametrize("example", PLANS, ids=lambda p: p.name)
def test_every_example_plan_is_valid_under_the_schema(example, validator):
    if missing := missing_distributions(example.read_text()):
        pytest.skip(f"{example.name} needs the plugin distribution(s) {', '.join(missing)}, not installed here")
    assert _errors(validator, tomli.loads(example.read_text())) == []


@pytest.mark.parametrize("where, key", [
    ((), "seeed"), (("dataset",), "trian_size"), (("space",), "chanels"), (("sampler",), "kinds"),
    (("evaluators", "ridge_rfm"), "trails"), (("evaluators", "ridge_rfm"), "top_fration"),
])
def test_a_misspelled_key_is_refused_where_it_is(where, key, validator):
    plan = _tiny()
    assert _errors(validator, plan) == []
    table = plan
    for part in where:
        table = table[part]
    table[key] = 1
    errors = _errors(validator, plan)
    assert errors and all(key in e for e in errors), errors


@pytest.mark.parametrize("change, path", [
    (lambda p: p["sampler"].update(n=0), "sampler.n"),
    (lambda p: p["sampler"].update(kind="grid"), "sampler.kind"),
    (lambda p: p["sampler"].update(ids=["a"]), "sampler"),  # only the ids sampler reads ids
    (lambda p: p.update(device="gpu"), "device"),
    (lambda p: p["evaluators"].update(Bad={}), "evaluators"),
    (lambda p: p["evaluators"].update(other={"evaluator": "no_such"}), "evaluators.other.evaluator"),
    (lambda p: p["space"].update(name="no_such"), "space.name"),
    (lambda p: p["evaluators"]["ridge_rfm"].update(evaluator="cvu"), "evaluators.ridge_rfm"),  # cvu has no trials
    (lambda p: p.pop("evaluators"), ""),
])
def test_wrong_values_are_refused(change, path, validator):
    plan = _tiny()
    change(plan)
    assert any(e.startswith(f"{path}: ") for e in _errors(validator, plan)), _errors(validator, plan)


def test_an_instance_named_after_its_evaluator_or_not(validator):
    plan = _tiny()
    plan["evaluators"]["loo"] = {"evaluator": "ridge_rfm", "trials": 3, "top": 2, "by": "ridge_rfm.val_acc"}
    plan["evaluators"]["avg"] = {"evaluator": "ridge_rfm", "top_fraction": 0.5, "by": ["ridge_rfm.val_acc", "flops"]}
    assert _errors(validator, plan) == []
    plan["evaluators"]["loo"]["top_fraction"] = 2.0
    assert [e.split(":")[0] for e in _errors(validator, plan)] == ["evaluators.loo.top_fraction"]


def test_option_schema_follows_the_declaration():
    assert option_schema(Option("n", int, 4, "count", min=1, max=9)) == {
        "type": "integer", "minimum": 1, "maximum": 9, "description": "count", "default": 4}
    assert option_schema(Option("f", float, None, "frac", min=0, gt_min=True)) == {
        "type": "number", "exclusiveMinimum": 0, "description": "frac"}
    assert option_schema(Option("lam", float, 1.0, "λ", choices=("loo",))) == {
        "anyOf": [{"type": "number"}, {"type": "string", "enum": ["loo"]}], "description": "λ", "default": 1.0}
    assert option_schema(Option("k", list, [3], "kernels", min=1, item_type=int)) == {
        "type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}, "description": "kernels",
        "default": [3]}
    assert option_schema(Option("s", str, "a", "pick", choices=("a", "b")))["enum"] == ["a", "b"]
    assert "default" not in option_schema(Option("t", float, float("inf"), "no limit"))  # not JSON


def test_an_option_added_to_a_declaration_shows_up_in_the_schema(monkeypatch, registry):
    from rcx.core import data_prep as prepare
    from rcx.core import plan, samplers, stages
    from rcx.core import schema as schema_module

    new = Option("brand_new", int, 1, "a key added to the declaration", min=1)

    def named(name: str) -> Option:
        return dataclasses.replace(new, name=name)

    monkeypatch.setattr(samplers, "SAMPLER_OPTIONS", [*samplers.SAMPLER_OPTIONS, new])
    monkeypatch.setattr(prepare, "COMMON_OPTIONS", [*prepare.COMMON_OPTIONS, named("common_new")])
    monkeypatch.setattr(schema_module, "STAGE_OPTIONS", [*stages.STAGE_OPTIONS, named("stage_new")])
    top = plan.top_options
    monkeypatch.setattr(schema_module, "top_options", lambda stem="plan": [*top(stem), named("top_new")])
    schema = plan_schema(registry)
    assert schema["properties"]["top_new"]["minimum"] == 1
    assert schema["properties"]["sampler"]["properties"]["brand_new"]["default"] == 1
    assert "common_new" in schema["definitions"]["dataset.synthetic"]["properties"]
    assert "stage_new" in schema["definitions"]["evaluator.ridge_rfm"]["properties"]


def test_rcx_schema_prints_the_schema(tmp_path, capsys, registry):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["$schema"] == DIALECT and printed == json.loads(json.dumps(plan_schema(registry)))
    assert "naswot" in printed["properties"]["evaluators"]["properties"]  # installed plugins' evaluators too
    out = tmp_path / "plan.schema.json"
    assert main(["schema", "--output", str(out)]) == 0
    assert json.loads(out.read_text()) == printed
    assert main(["schema", "-o", str(tmp_path / "no" / "such" / "dir" / "x.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.fixture
def added_sampler_key():
    """An option appended to the sampler's declaration for one test (and taken out again)."""
    from rcx.core.samplers import SAMPLER_OPTIONS

    new = Option("brand_new", int, 1, "a key added to the declaration", min=1)
    SAMPLER_OPTIONS.append(new)
    try:
        yield new
    finally:
        SAMPLER_OPTIONS.remove(new)


def test_a_key_added_to_the_declaration_reaches_validator_schema_and_docs(added_sampler_key, registry):
    from rcx.core.plan import PlanError, parse_plan

    from .test_docs import gen

    text = TINY_PLAN.format(seed=0, n=4, valid_only="true", extra="", output="r.db", trials=2)
    text = text.replace("[sampler]\n", "[sampler]\nbrand_new = 3\n")
    assert parse_plan(text, registry).sampler["brand_new"] == 3
    with pytest.raises(PlanError, match=r"sampler.brand_new: must be int >= 1, got 0"):
        parse_plan(text.replace("brand_new = 3", "brand_new = 0"), registry)
    assert plan_schema(registry)["properties"]["sampler"]["properties"]["brand_new"]["minimum"] == 1
    assert "| `brand_new` | `int >= 1` |" in gen.plan_page(registry)


def _completions(schema: dict, node: dict, path: tuple[str, ...]) -> set[str]:
    """The keys an editor offers at ``path``, found as Taplo's completion finds them: through
    ``$ref``, ``anyOf``/``oneOf`` and ``properties`` (not ``if``/``then`` nor ``additionalProperties``)."""
    if "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _completions(schema, target, path)
    found: set[str] = set()
    for branch in [*node.get("anyOf", ()), *node.get("oneOf", ())]:
        found |= _completions(schema, branch, path)
    properties = node.get("properties", {})
    if not path:
        return found | set(properties)
    if path[0] in properties:
        found |= _completions(schema, properties[path[0]], path[1:])
    return found


def test_editors_find_the_keys_of_each_table(registry):
    schema = plan_schema(registry)
    top = _completions(schema, schema, ())
    assert {"name", "description", "seed", "device", "output", "dataset", "evaluators"} <= top
    assert {"name", "train_size", "n_train", "root"} <= _completions(schema, schema, ("dataset",))
    assert {"name", "channels", "layers"} <= _completions(schema, schema, ("space",))
    assert {"kind", "n", "ids", "trials"} <= _completions(schema, schema, ("sampler",))
    assert {"evaluator", "trials", "lambda", "top", "by"} <= _completions(schema, schema, ("evaluators", "ridge_rfm"))
    assert {"evaluator", "n_init"} <= _completions(schema, schema, ("evaluators", "cvu"))


def test_a_plan_may_name_its_schema_on_its_first_line(registry):
    from rcx.core.plan import parse_plan, plan_needs

    text = "#:schema ./rcx-plan.schema.json\n# needs: rcx-naswot\n" + TINY_PLAN.format(
        seed=0, n=4, valid_only="true", extra="", output="r.db", trials=2)
    assert parse_plan(text, registry).name == "tiny"
    assert plan_needs(text) == ["rcx-naswot"]
