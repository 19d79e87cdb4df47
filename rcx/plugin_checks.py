"""Checks of what plugins declare and return, with messages that name the plugin and the fix.

Three moments:

- **Registration** (:func:`declaration_problems`): a component's name, its options (every
  default must pass its own option's check: choices, type, minimum), its metrics (names,
  units, directions) and an evaluator's statuses. A component with a problem is not
  registered; the problem is reported like a plugin that fails to load. A truth table's
  declaration (:func:`check_truth_declaration`: its space, subsets and ``load``) likewise.
- **Loading** (:func:`hook_problems`): pluggy's ``check_pending()`` finds ``@hookimpl``
  functions for hooks that do not exist (``rcx_register_space``); module functions named like
  a hook but not marked ``@hookimpl`` are found here too (pluggy ignores them silently).
- **Each result** (:class:`ResultChecker`): a metric or status the evaluator does not declare,
  and a metric value that is NaN or infinite (:func:`nonfinite_values`; JSON cannot hold it,
  so the evaluation fails with the metric named). A warning normally (an undeclared status or
  a non-finite value also fails that evaluation); an error (:class:`ResultError`) with
  ``RCX_STRICT_PLUGINS=1`` and in the test kit (``rcx.testing``).

This module imports no torch: plugin listing stays quick.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from rcx.api.options import ROLES, SCORE, Metric, Option
from rcx.api.truth import TruthTable

STRICT_ENV = "RCX_STRICT_PLUGINS"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")  # no dots or colons: result columns are "instance.metric"
_OPTION_TYPES = (int, float, bool, str, list)
_NOT_DECLARABLE = ("running",)  # the runner's own in-flight status
_BASES = {"evaluator": "Evaluator", "space": "SearchSpace", "dataset": "DatasetProvider"}
_METHODS = {"evaluator": ("evaluate",), "space": ("__len__", "arch_at", "from_id", "describe", "build"),
            "dataset": ("load",)}


def strict_mode(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``RCX_STRICT_PLUGINS`` is set to anything but empty or ``0``."""
    return (os.environ if environ is None else environ).get(STRICT_ENV, "") not in ("", "0")


def describe(obj: Any, dist: str) -> str:
    """``evaluator 'echo' (my_pkg.plugin.Echo, distribution 'my-pkg')`` for messages."""
    name = getattr(obj, "name", None)
    where = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    return f"{name!r} ({where}, distribution {dist!r})"


# -- registration ------------------------------------------------------------------------------
def declaration_problems(kind: str, obj: Any) -> list[str]:
    """What is wrong with a registered class's declaration, each with the fix; empty when fine.

    ``kind`` is ``evaluator``, ``space`` or ``dataset`` (truth tables have their own check).
    """
    problems: list[str] = []
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"its name {name!r} is not a plain name: set the class attribute name to letters, "
                        "digits, '_' or '-' (starting with a letter; no '.' or ':')")
    if not isinstance(obj, type):
        problems.append("register the class itself, not an instance or a function")
        return problems
    problems += option_problems(getattr(obj, "options", []))
    missing = [m for m in _METHODS.get(kind, ()) if not callable(getattr(obj, m, None))]
    if missing:
        problems.append(f"it has no {', '.join(missing)}: subclass rcx.api.{_BASES[kind]} and implement "
                        f"{'it' if len(missing) == 1 else 'them'}")
    if kind == "evaluator":
        problems += metric_problems(getattr(obj, "metrics", []))
        problems += status_problems(getattr(obj, "statuses", ("done",)))
        for h in getattr(obj, "headline", ()) or ():
            if h not in {getattr(m, "name", None) for m in getattr(obj, "metrics", [])}:
                problems.append(f"headline names {h!r}, which is not a declared metric: declare it or drop it "
                                "from headline")
    return problems


def check_truth_declaration(cls: type) -> None:
    """Raise ``ValueError`` when a registered truth table's declaration is unusable."""
    if not (isinstance(cls, type) and issubclass(cls, TruthTable)):
        raise ValueError(f"{cls!r} is not a subclass of rcx.api.TruthTable")
    if not isinstance(getattr(cls, "space", None), str) or not cls.space:
        raise ValueError(f"truth table {cls.name!r} declares no 'space'")
    if not cls.subsets or not all(isinstance(m, Metric) for m in cls.subsets):
        raise ValueError(f"truth table {cls.name!r} declares no subsets (a tuple of rcx.api.Metric)")
    names = [m.name for m in cls.subsets]
    if len(set(names)) != len(names) or any(not n or ":" in n or "." in n for n in names):
        raise ValueError(f"truth table {cls.name!r}: subset names must be distinct and contain no ':' or '.' ({names})")
    if ":" in cls.name or "." in cls.name:
        raise ValueError(f"truth table name {cls.name!r} must contain no ':' or '.'")
    if cls.load is TruthTable.load:
        raise ValueError(f"truth table {cls.name!r} does not implement load()")


def option_problems(options: Any) -> list[str]:
    """Problems of an ``options`` list: types, names, bounds, and each default against its option."""
    if not isinstance(options, (list, tuple)):
        return [f"options must be a list of rcx.api.Option, got {type(options).__name__}"]
    problems, seen = [], set()
    for opt in options:
        if not isinstance(opt, Option):
            problems.append(f"options holds {opt!r}, which is not an rcx.api.Option")
            continue
        label = f"option {opt.name!r}"
        if not isinstance(opt.name, str) or not _NAME.match(opt.name):
            problems.append(f"{label}: the name must be letters, digits, '_' or '-', starting with a letter (it is a "
                            "TOML key)")
        if opt.name in seen:
            problems.append(f"{label} is declared twice: keep one")
        seen.add(opt.name)
        if opt.type not in _OPTION_TYPES:
            problems.append(f"{label}: type must be int, float, bool, str or list, got {opt.type!r}")
            continue
        if opt.type is list and opt.item_type not in (None, int, float, bool, str):
            problems.append(f"{label}: item_type must be int, float, bool or str, got {opt.item_type!r}")
            continue
        if opt.min is not None and opt.max is not None and opt.min > opt.max:
            problems.append(f"{label}: min {opt.min} is above max {opt.max}: swap or fix the bounds")
        if opt.type is str and not all(isinstance(c, str) for c in opt.choices):
            problems.append(f"{label}: the choices of a str option must be strings, got {opt.choices!r}")
        if opt.default is not None:
            _, err = opt.check(opt.default)
            if err:
                problems.append(f"{label}: its default {opt.default!r} {err.replace(', got ' + repr(opt.default), '')}"
                                f": change the default or the option's {_bound_words(opt)} so that it is allowed")
    return problems


def _bound_words(opt: Option) -> str:
    if opt.choices:
        return "choices"
    if opt.min is not None or opt.max is not None:
        return "type or bounds (min/max)"
    return "type"


def metric_problems(metrics: Any) -> list[str]:
    """Problems of a ``metrics`` list: names, units and directions."""
    if not isinstance(metrics, (list, tuple)):
        return [f"metrics must be a list of rcx.api.Metric, got {type(metrics).__name__}"]
    problems, seen = [], set()
    for m in metrics:
        if not isinstance(m, Metric):
            problems.append(f"metrics holds {m!r}, which is not an rcx.api.Metric")
            continue
        label = f"metric {m.name!r}"
        if not isinstance(m.name, str) or not _NAME.match(m.name):
            problems.append(f"{label}: the name must be letters, digits, '_' or '-' (no '.': it becomes a column "
                            "'instance.metric')")
        if m.name in seen:
            problems.append(f"{label} is declared twice: keep one")
        seen.add(m.name)
        if not isinstance(m.unit, str):
            problems.append(f"{label}: unit must be a string such as 'fraction', 'count' or 's', got {m.unit!r}")
        if not isinstance(m.higher_is_better, bool):
            problems.append(f"{label}: higher_is_better must be True or False (it orders results), "
                            f"got {m.higher_is_better!r}")
        if getattr(m, "role", SCORE) not in ROLES:
            problems.append(f"{label}: role must be rcx.api.SCORE or rcx.api.DESCRIPTION, got {m.role!r}")
    return problems


_DESCRIPTION_NAMES = ("seconds", "throughput", "params", "flops", "features")
_DESCRIPTION_UNITS = ("s", "ms", "img/s", "MAC/img")


def role_problems(metrics: Any) -> list[str]:
    """Metrics declared scores that look like descriptions: a time or throughput (``seconds``,
    ``*_seconds``, ``throughput``, unit ``s`` or ``img/s``), the architecture's size
    (``params``, ``flops``, ``features``: the baselines rcx ranks already) or a spread
    (``*_std``). The test kit (strict mode) refuses them; otherwise rcx stays silent, so a
    plugin written before roles existed keeps loading."""
    problems = []
    for m in metrics if isinstance(metrics, (list, tuple)) else ():
        if not isinstance(m, Metric) or getattr(m, "role", SCORE) != SCORE:
            continue
        name = str(m.name)
        if (name in _DESCRIPTION_NAMES or name.endswith(("_seconds", "_std", "_params", "_flops"))
                or m.unit in _DESCRIPTION_UNITS):
            problems.append(f"metric {name!r} ({m.unit or 'no unit'}) is declared a score, but it reads as a "
                            "description (a time, throughput, size or spread): declare it "
                            f"Metric({name!r}, {m.unit!r}, {m.higher_is_better}, ..., role=rcx.api.DESCRIPTION) so "
                            "that leaderboards and stage selection do not rank by it")
    return problems


def status_problems(statuses: Any) -> list[str]:
    """Problems of an evaluator's ``statuses`` tuple."""
    if not isinstance(statuses, (list, tuple)) or not all(isinstance(s, str) and _NAME.match(s) for s in statuses):
        return [f"statuses must be a tuple of plain names such as ('done', 'screened'), got {statuses!r}"]
    return [f"statuses declares {s!r}, which rcx uses for evaluations in flight: choose another name"
            for s in statuses if s in _NOT_DECLARABLE]


# -- hooks -------------------------------------------------------------------------------------
def hook_problems(pm: pluggy.PluginManager, origin: Mapping[str, str]) -> list[str]:
    """Misspelled hooks (``@hookimpl`` on a name without a hookspec) and unmarked hook functions.

    ``origin`` maps pluggy plugin names to distribution names.
    """
    known = sorted(n for n in dir(pm.hook) if not n.startswith("_") and getattr(pm.hook, n).has_spec())
    problems = []
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        for hook_name in dir(pm.hook):
            caller = getattr(pm.hook, hook_name)
            if hook_name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                problems.append(
                    f"plugin {_module_name(impl.plugin)} (distribution {origin.get(impl.plugin_name, '?')!r}) "
                    f"implements {hook_name!r}, which is not an rcx hook; {_did_you_mean(hook_name, known)}"
                )
    for plugin_name, plugin in pm.list_name_plugin():
        marked = {impl.function for caller in pm.get_hookcallers(plugin) or [] for impl in caller.get_hookimpls()
                  if impl.plugin is plugin}
        for attr in sorted(a for a in dir(plugin) if a.startswith("rcx_")):
            fn = getattr(plugin, attr, None)
            if callable(fn) and not pm.parse_hookimpl_opts(plugin, attr) and fn not in marked:
                problems.append(
                    f"plugin {_module_name(plugin)} (distribution {origin.get(plugin_name, '?')!r}) defines "
                    f"{attr!r} without @hookimpl, so rcx never calls it: decorate it with @rcx.api.hookimpl"
                    + ("" if attr in known else f" ({_did_you_mean(attr, known)})")
                )
    return problems


def _module_name(plugin: Any) -> str:
    return repr(getattr(plugin, "__name__", None) or type(plugin).__name__)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "rename it"
    return f"{hint} (rcx hooks: {', '.join(known)})"


# -- results -----------------------------------------------------------------------------------
def nonfinite_values(metrics: Mapping[str, Any], trials: Iterable[Mapping[str, Any]] = ()) -> list[str]:
    """Key paths of the NaN and infinite numbers in a result: ``score`` in ``metrics``,
    ``trials[2].score`` in ``trials``; nested lists and one-element tensors or numpy values are
    looked into (without importing torch). Empty when every number is finite."""
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                found.append(where)
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{where}.{k}" if where else str(k))
            return
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
            return
        tolist = getattr(value, "tolist", None)  # torch tensors, numpy arrays and scalars
        if callable(tolist) and hasattr(value, "dtype"):
            try:
                items = tolist()
            except Exception:  # unreadable: the store's own check reports it
                return
            if type(items) is not type(value):
                walk(items, where)

    walk(dict(metrics), "")
    for i, trial in enumerate(trials):
        walk(trial, f"trials[{i}]")
    return found


def nonfinite_message(paths: list[str], metrics: Mapping[str, Any]) -> str:
    """Why a result with non-finite values fails, naming them and the fix."""
    first = paths[0]
    value = metrics.get(first, "NaN or infinite")
    more = f" (and {', '.join(repr(p) for p in paths[1:4])}{'...' if len(paths) > 4 else ''})" if len(paths) > 1 else ""
    return (f"metric {first!r} is {value} (not a finite number){more}: results hold finite numbers only; return None "
            "for a value that does not exist, with a declared status that says why (e.g. statuses = ('done', "
            "'degenerate'))")


class ResultError(Exception):
    """An evaluator returned what it does not declare (strict mode)."""


@dataclass
class ResultChecker:
    """Checks each result against its evaluator's declaration.

    ``strict``: raise :class:`ResultError` (default: ``RCX_STRICT_PLUGINS``). ``warn(message)``
    receives each warning once per (evaluator instance, metric or status). ``dists`` maps
    evaluator classes to their distribution names, for messages.
    """

    strict: bool = field(default_factory=strict_mode)
    warn: Callable[[str], None] = lambda message: None
    dists: Mapping[type, str] = field(default_factory=dict)
    _warned: set[tuple[str, str]] = field(default_factory=set)

    def check(self, evaluator: Any, status: str, metrics: Iterable[str], instance: str | None = None,
              nonfinite: Iterable[str] = ()) -> tuple[str, str]:
        """``(status, error)`` to record for a returned ``status`` and metric names: the status
        unchanged and ``""`` when declared; ``("failed", why)`` for an undeclared status or
        ``nonfinite`` values (key paths from :func:`nonfinite_values`: NaN or infinity).
        Undeclared metrics are stored as returned (after a warning). ``instance``: the plan's
        name for this evaluator (default: the evaluator's name), for messages."""
        instance = instance or evaluator.name
        who = f"evaluator {describe(type(evaluator), self.dists.get(type(evaluator), '?'))}, instance {instance!r}"
        nonfinite = list(nonfinite)
        if nonfinite:
            why = nonfinite_message(nonfinite, {})
            self._problem(instance, f"nonfinite:{nonfinite[0]}", f"{who} returned {why}")
        declared = [m.name for m in evaluator.metrics]
        for name in metrics:
            if name not in declared:
                self._problem(instance, f"metric:{name}",
                              f"{who} returned the metric {name!r}, which it does not declare (declared: "
                              f"{', '.join(declared) or 'none'}): add Metric({name!r}, unit, higher_is_better) to "
                              "its metrics, or stop returning it")
        if status in evaluator.statuses and status not in _NOT_DECLARABLE:
            return ("failed", nonfinite_message(nonfinite, {})) if nonfinite else (status, "")
        why = (f"the evaluator returned the status {status!r}, which it does not declare (declared: "
               f"{', '.join(evaluator.statuses)})")
        self._problem(instance, f"status:{status}", f"{who}: {why}: add it to the class attribute statuses, "
                                                    "or return a declared one")
        return "failed", why

    def _problem(self, instance: str, key: str, message: str) -> None:
        if self.strict:
            raise ResultError(f"{message} (strict mode: {STRICT_ENV}=1 or rcx.testing)")
        if (instance, key) not in self._warned:
            self._warned.add((instance, key))
            self.warn(message)
