"""JSON Schema of plan files, made from the declarations the plan validator checks against.

``rcx schema`` prints it, so editors with TOML schema support (Taplo, Even Better TOML) complete
and check plans as they are typed. Nothing here is typed by hand twice: the top-level keys are
:func:`~rcx.core.plan.top_options` and :data:`~rcx.core.plan.TABLES`, the ``[sampler]`` keys
are the sampler's ``SAMPLER_OPTIONS`` (with its ``KIND_OPTIONS``: the keys only one kind reads),
the common ``[dataset]`` keys the data preparation's ``COMMON_OPTIONS``, the stage keys of an
evaluator table :data:`~rcx.core.stages.STAGE_OPTIONS`, and every dataset provider, search space
and evaluator of the registry (built-ins and installed plugins alike) brings its own ``options``.

The schema is draft-07 (what Taplo and most editors read). It checks what can be said without
running code: key names, types, ranges and choices, which plugin a table names. The validator
(``rcx validate``) remains the judge of everything else (a stage's ``by`` naming an earlier
table, a space's size, the dataset's memory).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rcx.api.options import Option
from rcx.core.plan import DEVICE_RE, INSTANCE_RE, TABLES, top_options
from rcx.core.stages import ONE_OR_LIST, STAGE_OPTIONS
from rcx.plugins import Registry

DIALECT = "http://json-schema.org/draft-07/schema#"
"""The JSON Schema dialect of :func:`plan_schema`."""

_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array"}


def _json(value: Any) -> Any:
    """A default as JSON (tuples as lists)."""
    return [_json(v) for v in value] if isinstance(value, (list, tuple)) else value


def _scalar(option: Option, typ: type) -> dict[str, Any]:
    """The schema of one value of type ``typ`` under ``option``'s bounds and string choices."""
    out: dict[str, Any] = {"type": _JSON_TYPES.get(typ, "string")}
    if typ is str and option.choices:
        out["enum"] = list(option.choices)
    if typ in (int, float):
        if option.min is not None:
            out["exclusiveMinimum" if option.gt_min else "minimum"] = option.min
        if option.max is not None:
            out["maximum"] = option.max
    return out


def option_schema(option: Option) -> dict[str, Any]:
    """One :class:`~rcx.api.options.Option` as a JSON Schema: its type, bounds (on every item of
    a list), choices (for numbers: strings also accepted, such as ``"loo"``), default and help."""
    if option.type is list:
        schema: dict[str, Any] = {"type": "array", "minItems": 1}
        if option.item_type is not None:
            schema["items"] = _scalar(option, option.item_type)
    else:
        schema = _scalar(option, option.type)
    if option.choices and option.type is not str:
        schema = {"anyOf": [schema, {"type": "string", "enum": list(option.choices)}]}
    schema["description"] = option.help
    default = _json(option.default)
    if default is not None and _is_json(default):  # a plugin's inf or object default: none offered
        schema["default"] = default
    return schema


def _is_json(value: Any) -> bool:
    """Whether ``value`` is plain JSON (no NaN or infinity, no other objects)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def table_schema(options: Sequence[Option], **properties: dict[str, Any]) -> dict[str, Any]:
    """A TOML table that takes ``options`` (and the extra ``properties``), nothing else."""
    return {"type": "object", "properties": {**properties, **{o.name: option_schema(o) for o in options}},
            "additionalProperties": False}


def _dispatch(kind: str, key: str, names: list[str], required: bool, complete: bool = True) -> dict[str, Any]:
    """A table whose ``key`` (``name`` or ``evaluator``) picks the plugin whose definition applies.

    ``allOf`` of ``if``/``then`` checks the table against its plugin's definition (precise
    messages). With ``complete``, ``anyOf`` of the definitions adds no constraint but is what
    editors read to complete keys (Taplo's completion follows ``$ref``, ``anyOf`` and
    ``properties``, not ``if`` nor ``additionalProperties``); a wrong key then also gets its
    vaguer message."""
    return {
        "type": "object",
        **({"required": [key]} if required else {}),
        "properties": {key: {"type": "string", "enum": names, "description": f"the {kind}"}},
        "allOf": [{"if": {"properties": {key: {"const": n}}, "required": [key]},
                   "then": {"$ref": f"#/definitions/{kind}.{n}"}} for n in names],
        **({"anyOf": [{"$ref": f"#/definitions/{kind}.{n}"} for n in names]} if complete else {}),
    }


def _sampler_schema() -> dict[str, Any]:
    """``[sampler]``: its keys, and those only one kind reads refused with the others."""
    from rcx.core.samplers import KIND_OPTIONS, SAMPLER_OPTIONS

    schema = table_schema(SAMPLER_OPTIONS)
    schema["allOf"] = [
        {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
         "else": {"not": {"anyOf": [{"required": [o.name]} for o in options]}}}
        for kind, options in KIND_OPTIONS.items()
    ]
    return schema


def stage_schemas() -> dict[str, dict[str, Any]]:
    """The stage keys of an evaluator table; a key of :data:`ONE_OR_LIST` also takes one item."""
    out = {}
    for option in STAGE_OPTIONS:
        schema = option_schema(option)
        if option.name in ONE_OR_LIST:
            many = {k: v for k, v in schema.items() if k not in ("description", "default")}
            schema = {"anyOf": [dict(schema["items"]), many], "description": option.help}
        out[option.name] = schema
    return out


def plan_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema (draft-07) of a plan file, with the options of every dataset provider,
    search space and evaluator in ``registry``."""
    from rcx.core.data_prep import COMMON_OPTIONS

    definitions: dict[str, Any] = {}
    names = {kind: registry.names(kind) for kind in ("dataset", "space", "evaluator")}
    for kind in ("dataset", "space"):
        common = COMMON_OPTIONS if kind == "dataset" else []
        for n in names[kind]:
            definitions[f"{kind}.{n}"] = table_schema([*common, *registry.get(kind, n).options],
                                                      name={"const": n})
    stages = stage_schemas()
    for n in names["evaluator"]:
        cls = registry.get("evaluator", n)
        schema = table_schema(cls.options, evaluator={"const": n}, **stages)
        schema["description"] = getattr(cls, "help", "") or n
        definitions[f"evaluator.{n}"] = schema
    named = _dispatch("evaluator", "evaluator", names["evaluator"], required=False, complete=False)
    evaluators = {
        "type": "object",
        "description": "one table per evaluator instance: [evaluators.NAME]; NAME names its result columns, "
                       "evaluator = \"PLUGIN\" picks the plugin (default: NAME)",
        "minProperties": 1,
        "propertyNames": {"pattern": INSTANCE_RE.pattern},
        "properties": {n: {"if": {"required": ["evaluator"]}, "then": named,
                           "else": {"$ref": f"#/definitions/evaluator.{n}"},
                           "anyOf": [{"$ref": f"#/definitions/evaluator.{n}"}, named]}  # anyOf: for editors
                       for n in names["evaluator"] if INSTANCE_RE.match(n)},
        "additionalProperties": _dispatch("evaluator", "evaluator", names["evaluator"], required=True,
                                          complete=False),
    }
    top = {o.name: option_schema(o) for o in top_options("NAME")}
    for a, b in zip(top_options("a"), top_options("b")):
        if a.default != b.default:  # name and output follow the file's name: no default to offer
            del top[a.name]["default"]
    top["device"]["pattern"] = DEVICE_RE.pattern
    tables = {
        "dataset": {**_dispatch("dataset", "name", names["dataset"], required=True),
                    "description": "the images: name = the provider, with the common options and its own"},
        "space": {**_dispatch("space", "name", names["space"], required=True),
                  "description": "the search space: name = the space, with its options"},
        "sampler": {**_sampler_schema(), "description": "which architectures of the space become candidates"},
        "evaluators": evaluators,
    }
    assert tuple(tables) == TABLES, "a plan table without a schema"
    return {
        "$schema": DIALECT,
        "title": "rcx plan",
        "description": "A plan file of rcx (rcx run PLAN.toml); made by `rcx schema` from the installed plugins.",
        "type": "object",
        "properties": {**top, **tables},
        "required": ["dataset", "space", "evaluators"],
        "additionalProperties": False,
        "definitions": definitions,
    }
