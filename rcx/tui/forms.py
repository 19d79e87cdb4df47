"""The Plan screen's model: a draft plan edited as form values, written as TOML and checked by
the plan validator (so the form shows exactly the messages ``rcx validate`` gives).

Fields are generated from the components' declared :class:`~rcx.api.options.Option` lists;
a field's key is the dotted path the validator uses (``evaluators.ridge_rfm.trials``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli
import tomli_w

from rcx.api.options import Option, validate_options
from rcx.core.plan import TABLES, Plan, PlanError, Problem, parse_plan, top_options
from rcx.core.samplers import SAMPLER_OPTIONS
from rcx.exec.settings import EXECUTION_OPTIONS, ExecutionSettings
from rcx.plugins import Registry, UnknownName

UNSET = object()
"""A form field left empty: the option is omitted and takes its default."""

UNTITLED = "untitled"
"""The plan-file stem of a new plan: its name and output default to it (``top_options``)."""

STARTER_SAMPLER: dict[str, Any] = {"kind": "random", "n": 40, "valid_only": True}
"""What a new plan's sampler is set to (40 random architectures that fit the input). These are
values the draft sets, not defaults: a plan without them takes ``SAMPLER_OPTIONS``' defaults."""

_SAMPLER_DEFAULTS = {o.name: o.default for o in SAMPLER_OPTIONS}


def _top_defaults(stem: str) -> dict[str, Any]:
    return {o.name: o.default for o in top_options(stem)}


def parse_text(option: Option, text: str) -> Any:
    """The value typed into ``option``'s field: empty is :data:`UNSET`; numbers, booleans and
    lists are read as TOML literals; anything unreadable stays a string for the validator to
    reject with its own message."""
    text = text.strip()
    if not text:
        return UNSET
    if option.type is str:
        return text
    try:
        return tomli.loads(f"v = {text}")["v"]
    except tomli.TOMLDecodeError:
        return text


def to_text(value: Any) -> str:
    """A value as the user would type it (inverse of :func:`parse_text`)."""
    if value is None or value is UNSET:
        return ""
    if isinstance(value, str):
        return value
    return toml_value(value)


def toml_value(v: Any) -> str:
    """``v`` as an inline TOML value, as typed into a field: arrays on one line."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return tomli_w.dumps({"v": v})[len("v = "):].rstrip("\n")


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """The values that are set (a field left empty, or None, is omitted)."""
    return {k: v for k, v in values.items() if v is not UNSET and v is not None}


@dataclass
class Component:
    """A ``[dataset]``/``[space]``/``[evaluators.X]`` table: its plugin and the values set.

    ``named``: an evaluator table that says ``evaluator = "..."`` although it is the instance's
    own name; it says so again when saved."""

    plugin: str
    values: dict[str, Any] = field(default_factory=dict)
    named: bool = False


FORM_TOP = ("name", "seed", "device", "output")
"""The top-level keys the Plan screen edits; the draft keeps every other one in ``extra``."""


@dataclass
class PlanDraft:
    """A plan being edited. Values hold what the user set; missing keys take the defaults.

    ``extra`` holds the top-level keys the form does not show (``description``, and any key the
    validator refuses), in the file's order: a plan loaded and saved keeps every key it had."""

    name: str = _top_defaults(UNTITLED)["name"]
    seed: Any = _top_defaults(UNTITLED)["seed"]
    device: str = _top_defaults(UNTITLED)["device"]
    output: str = _top_defaults(UNTITLED)["output"]
    dataset: Component = field(default_factory=lambda: Component("synthetic"))
    space: Component = field(default_factory=lambda: Component("ksd"))
    sampler: dict[str, Any] = field(default_factory=lambda: dict(STARTER_SAMPLER))
    evaluators: dict[str, Component] = field(default_factory=dict)
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``(sampler.file as written, the ids read from it)`` of a draft opened from a results file:
    #: while the draft's ``sampler.file`` says the same, validation uses those ids instead of
    #: reading the file again (a relative file was relative to the plan's folder, not known here)
    file_ids: tuple[str, list[str]] | None = None

    @classmethod
    def from_toml(cls, text: str, path: Path | None = None) -> PlanDraft:
        """A draft from plan text (raises ``tomli.TOMLDecodeError`` on a syntax error)."""
        raw = tomli.loads(text)
        top = _top_defaults(path.stem if path else UNTITLED)

        def table(value: Any) -> dict[str, Any]:  # a key that should be a table but is not: left to the validator
            return dict(value) if isinstance(value, dict) else {}

        draft = cls(**{k: raw.get(k, top[k]) for k in FORM_TOP}, path=path, sampler=table(raw.get("sampler")),
                    evaluators={}, extra={k: v for k, v in raw.items() if k not in (*FORM_TOP, *TABLES)})
        for key in ("dataset", "space"):
            values = table(raw.get(key))
            setattr(draft, key, Component(str(values.pop("name", "")), values))
        for inst, values in table(raw.get("evaluators")).items():
            values = table(values)
            named = "evaluator" in values
            draft.evaluators[inst] = Component(str(values.pop("evaluator", inst)), values, named)
        return draft

    def to_toml(self) -> str:
        """The plan as TOML (``tomli_w``), in the order of the README's example."""
        evaluators = {inst: _present({"evaluator": comp.plugin, **comp.values}
                                     if comp.named or comp.plugin != inst else comp.values)
                      for inst, comp in self.evaluators.items()}
        doc = {
            **_present({k: getattr(self, k) for k in FORM_TOP}),
            **self.extra,
            "dataset": _present({"name": self.dataset.plugin, **self.dataset.values}),
            "space": _present({"name": self.space.plugin, **self.space.values}),
            "sampler": _present(self.sampler),
            **({"evaluators": evaluators} if evaluators else {}),
        }
        return tomli_w.dumps(doc)

    def validate(self, registry: Registry) -> tuple[Plan | None, list[Problem]]:
        """The validated plan, or the validator's problems."""
        source = str(self.path) if self.path else f"{self.name}.toml"
        known = self.file_ids[1] if self.file_ids and self.sampler.get("file") == self.file_ids[0] else None
        try:
            return parse_plan(self.to_toml(), registry, source=source, file_ids=known), []
        except PlanError as exc:
            return None, exc.problems


def errors_by_key(problems: list[Problem]) -> dict[str, str]:
    """The validator's messages per dotted key (several for one key joined by ``; ``)."""
    out: dict[str, str] = {}
    for p in problems:
        out[p.path] = f"{out[p.path]}; {p.message}" if p.path in out else p.message
    return out


def space_summary(registry: Registry, draft: PlanDraft) -> str:
    """``46,656 architectures; the sampler draws 40`` (or why the size is unknown)."""
    try:
        cls = registry.get("space", draft.space.plugin)
    except UnknownName as exc:
        return str(exc)
    values, problems = validate_options(cls.options, draft.space.values, "space")
    if problems:
        return "size unknown until the space's options are valid"
    try:
        size = len(cls(**values))
    except (ValueError, TypeError) as exc:
        return f"size unknown: {exc}"
    n = draft.sampler.get("n", _SAMPLER_DEFAULTS["n"])
    kind = draft.sampler.get("kind", _SAMPLER_DEFAULTS["kind"])
    fitting = " that fit the input" if draft.sampler.get("valid_only", _SAMPLER_DEFAULTS["valid_only"]) else ""
    if kind == "optuna":
        trials = draft.sampler.get("trials")
        return f"{size:,} architectures; " + (f"Optuna proposes {trials:,}" if isinstance(trials, int)
                                              else "the optuna sampler needs trials")
    draws: int | None
    if kind == "ids":
        ids = draft.sampler.get("ids")
        if not isinstance(ids, list):
            named = "the architectures in " + str(draft.sampler["file"]) if draft.sampler.get("file") else None
            return f"{size:,} architectures; " + (f"the sampler takes {named}" if named
                                                  else "the ids sampler needs ids or file")
        draws = min(len(ids), n) if isinstance(n, int) and not isinstance(n, bool) else len(ids)
    elif isinstance(n, int) and not isinstance(n, bool):
        draws = n if kind == "random" else min(n, size)
    else:
        draws = size if kind == "exhaustive" else None
    tail = f"; the sampler draws {draws:,}{fitting}" if draws is not None else "; the random sampler needs n"
    return f"{size:,} architectures{tail}"


def device_choices(cuda: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """``(label, value)`` for the device selector: auto, the CPU and the CUDA devices ``cuda``
    (:func:`cuda_devices`, listed after the first frame: it imports torch)."""
    return [("auto (first CUDA device, else CPU)", "auto"), ("cpu", "cpu"), *(cuda or [])]


def cuda_devices() -> list[tuple[str, str]]:
    """``(label, value)`` of every CUDA device torch sees, e.g. ``("cuda:0 NVIDIA H200", "cuda:0")``.
    Imports torch (seconds): the App calls it in a thread worker once the first screen is up."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [(f"cuda:{i} {torch.cuda.get_device_name(i)}", f"cuda:{i}") for i in range(torch.cuda.device_count())]


# -- execution (not part of the plan) -------------------------------------------------------------
EXECUTION_FIELDS = EXECUTION_OPTIONS
"""The Plan screen's execution section: :data:`~rcx.exec.settings.EXECUTION_OPTIONS` as form
fields (the same declaration as ``rcx run``'s execution flags)."""

_EXECUTION_DEFAULTS = {o.name: o.default for o in EXECUTION_FIELDS}


def execution_values(settings: ExecutionSettings) -> dict[str, Any]:
    """Form values showing ``settings`` (defaults left empty)."""
    values = {o.name: getattr(settings, o.name, None) for o in EXECUTION_FIELDS}
    return {k: v for k, v in values.items()
            if v not in (None, "") and not (k != "executor" and v == _EXECUTION_DEFAULTS[k])}


def execution_settings(values: dict[str, Any]) -> tuple[ExecutionSettings | None, list[Problem]]:
    """The execution section's values as settings, or None with the problems (keyed
    ``execution.<field>``). With the in-process executor the Ray fields are ignored."""
    executor = values.get("executor", _EXECUTION_DEFAULTS["executor"])
    if executor != "ray":
        plain = ExecutionSettings(executor)
        refused = [Problem("execution.executor", p) for p in plain.problems()]
        return (None if refused else plain), refused
    problems: list[Problem] = []

    def number(key: str, kind: type) -> Any:
        value = values.get(key)
        if value is None:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            what = "a number" if kind is float else "a whole number"
            problems.append(Problem(f"execution.{key}", f"expected {what}, got {value!r}"))
            return None
        return value

    given: dict[str, Any] = {"executor": executor}
    for option in EXECUTION_FIELDS:
        if option.name == "executor":
            continue
        if option.type in (int, float):
            given[option.name] = number(option.name, option.type)
        else:
            given[option.name] = str(values.get(option.name) or "").strip() or None
    settings = ExecutionSettings.from_values(given)
    problems += [Problem("execution", p) for p in settings.problems()]
    return (None if problems else settings), problems
