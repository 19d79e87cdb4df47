"""Plugin loading and the registry of evaluators, search spaces, dataset providers and truth tables.

Entry points in the ``rcx`` group are loaded one by one, so one broken plugin is reported on
stderr (with its distribution) and the others still load; ``RCX_STRICT_PLUGINS=1`` makes a
broken plugin fatal. The built-ins come in through rcx's own entry points, like any plugin.

A name registered by two distributions is unusable (and only that name): the clash is reported
on stderr while loading, and using the name is an error that names both distributions (in
strict mode the clash itself is fatal). A user turns plugins off with ``RCX_DISABLE_PLUGINS``
(comma-separated entry-point or distribution names, e.g. ``naswot`` or ``rcx-naswot``) or the
command line's ``--disable-plugin NAME`` / ``-p no:NAME``: a disabled plugin is not imported.
Declarations are checked as components register, and misspelled or unmarked hook functions are
found after loading (:mod:`rcx.plugin_checks`): a component with a bad declaration is not
registered.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from rcx.api import hooks
from rcx.api.truth import TruthTable, Values
from rcx.plugin_checks import (
    check_truth_declaration,
    declaration_problems,
    describe,
    hook_problems,
    role_problems,
    strict_mode,
)

KINDS = ("evaluator", "space", "dataset", "truth")
_HOOKS = {
    "evaluator": "rcx_register_evaluators",
    "space": "rcx_register_spaces",
    "dataset": "rcx_register_datasets",
    "truth": "rcx_register_truths",
}


DISABLE_ENV = "RCX_DISABLE_PLUGINS"
"""Comma-separated plugins not to load: entry-point names (``naswot``) or distributions (``rcx-naswot``)."""

#: Evaluators of the plugin packages rcx knows, name -> distribution: a plan that names one of
#: them when it is not installed is told which package to install.
KNOWN_PLUGINS: dict[str, str] = {
    "naswot": "rcx-naswot",
    **dict.fromkeys(("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "zen", "zico"), "rcx-zerocost"),
}


class PluginError(Exception):
    """A plugin problem that stops rcx (any plugin failure in strict mode)."""


class UnknownName(KeyError):
    """A name that no plugin registered; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0])


class NameClash(UnknownName):
    """A name that two distributions registered: unusable until one is uninstalled or disabled."""


def disabled_plugins(environ: Mapping[str, str] | None = None) -> set[str]:
    """The plugin names in ``RCX_DISABLE_PLUGINS`` (entry-point or distribution names)."""
    value = (os.environ if environ is None else environ).get(DISABLE_ENV, "")
    return {n.strip() for n in value.split(",") if n.strip()}


def disable_plugins(names: Iterable[str]) -> None:
    """Add ``names`` to ``RCX_DISABLE_PLUGINS`` in this process's environment (so processes
    started from it inherit them) and forget a registry loaded before. Ray workers, which may
    run on other nodes, do not inherit it: the driver hands them its set
    (:func:`set_disabled_plugins`)."""
    global _cached
    merged = sorted(disabled_plugins() | {n.strip() for n in names if n.strip()})
    if merged:
        os.environ[DISABLE_ENV] = ",".join(merged)
    _cached = None


def set_disabled_plugins(names: Iterable[str]) -> None:
    """Make exactly ``names`` this process's disabled plugins: ``RCX_DISABLE_PLUGINS`` set to
    them (removed when there are none), whatever it said before, and a registry loaded before
    forgotten when that changes the set. A Ray worker takes its driver's set this way
    (:class:`rcx.exec.worker.EvalWorker`)."""
    global _cached
    wanted = {n.strip() for n in names if n.strip()}
    if wanted == disabled_plugins():
        return
    if wanted:
        os.environ[DISABLE_ENV] = ",".join(sorted(wanted))
    else:
        os.environ.pop(DISABLE_ENV, None)
    _cached = None


@dataclass(frozen=True)
class Entry:
    """One registered component and where it came from."""

    kind: str
    name: str
    obj: Any
    dist: str  # distribution name, e.g. "rcx" or "rcx-naswot"
    dist_version: str


@dataclass
class Registry:
    """Registered components by kind and name, plus the problems met while loading."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    problems: list[str] = field(default_factory=list)
    #: (kind, name) -> the distributions that registered it, for names registered more than once
    clashes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: entry points not loaded because the user disabled them, as ``(entry point, distribution)``
    disabled: list[tuple[str, str]] = field(default_factory=list)

    def add(self, entry: Entry) -> str:
        """Register ``entry``; returns ``""``, or the clash message when another distribution
        (or an earlier clash) holds the name: then the name becomes unusable."""
        known, key = self.entries[entry.kind], (entry.kind, entry.name)
        if key in self.clashes:
            self.clashes[key].append(entry.dist)
        elif entry.name in known:
            self.clashes[key] = [known.pop(entry.name).dist, entry.dist]
        else:
            known[entry.name] = entry
            return ""
        return self.clash_message(entry.kind, entry.name)

    def clash_message(self, kind: str, name: str) -> str:
        dists = self.clashes[(kind, name)]
        first = next((d for d in dists if d != "rcx"), dists[0])
        return (f"{kind} {name!r} is registered by {' and by '.join(repr(d) for d in dists)}, so it cannot be used: "
                f"uninstall one of them, or turn one off ({DISABLE_ENV}={first} or rcx --disable-plugin {first})")

    def get(self, kind: str, name: str) -> Any:
        """The registered class; :class:`UnknownName` listing what exists (or naming the plugin
        package that provides it, :data:`KNOWN_PLUGINS`), or :class:`NameClash` naming both
        distributions for a name registered twice."""
        try:
            return self.entries[kind][name].obj
        except KeyError:
            if (kind, name) in self.clashes:
                raise NameClash(self.clash_message(kind, name)) from None
            dist = KNOWN_PLUGINS.get(name) if kind == "evaluator" else None
            if dist is not None:
                raise UnknownName(f"unknown {kind} {name!r}: {self.missing_hint(dist)}") from None
            known = ", ".join(sorted(self.entries[kind])) or "none"
            raise UnknownName(f"unknown {kind} {name!r} (known: {known})") from None

    def missing_hint(self, dist: str, plural: bool = False) -> str:
        """Where the components of the plugin distribution ``dist`` come from: that the user
        disabled it, or the package to install (``plural``: "they come from")."""
        come = "they come" if plural else "it comes"
        off = [ep for ep, d in self.disabled if d == dist]
        if off:
            return f"{come} from the plugin {dist!r}, which is disabled ({DISABLE_ENV} or --disable-plugin {off[0]})"
        if dist in KNOWN_PLUGINS.values():
            return (f"{come} from the plugin package {dist}, which is not installed (from rcx's repository: "
                    f"pip install -e plugins/{dist})")
        return f"{come} from the plugin package {dist} (the plan's '# needs:' line), which is not installed"

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def all(self, kind: str) -> list[Entry]:
        return [self.entries[kind][n] for n in self.names(kind)]

    @property
    def truths(self) -> dict[str, Any]:
        """Truth-table name -> class (``rcx.api.TruthTable`` subclasses)."""
        return {n: e.obj for n, e in self.entries["truth"].items()}

    def dists(self, kind: str) -> dict[Any, str]:
        """Registered object -> its distribution's name, for messages."""
        return {e.obj: e.dist for e in self.entries[kind].values()}

    def versions(self) -> dict[str, str]:
        """Distribution -> version of every plugin that registered something."""
        return {e.dist: e.dist_version for kind in KINDS for e in self.entries[kind].values()}


def _report(registry: Registry, message: str) -> None:
    registry.problems.append(message)
    if strict_mode():
        raise PluginError(message)
    print(f"rcx: warning: {message}", file=sys.stderr)


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group="rcx"), key=lambda ep: (ep.dist.name if ep.dist else "", ep.name))


def load_registry(
    extra_plugins: Iterable[tuple[ModuleType | object, str]] = (), *, entry_points: bool = True
) -> Registry:
    """Load plugins and collect what they register.

    ``extra_plugins`` are ``(plugin object, distribution name)`` pairs registered in addition
    to the entry points (tests use this to add plugins without installing them).
    """
    pm = pluggy.PluginManager("rcx")
    pm.add_hookspecs(hooks)
    registry = Registry()
    origin: dict[str, tuple[str, str]] = {}  # pluggy plugin name -> (distribution, version)

    if entry_points:
        off = disabled_plugins()
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if ep.name in off or dist in off:
                registry.disabled.append((ep.name, dist))
                continue
            try:
                name = pm.register(ep.load(), name=f"{dist}:{ep.name}")
                if name is None:  # blocked (pluggy): not loaded
                    continue
            except Exception as exc:  # a broken plugin must not stop the others
                _report(registry, f"plugin {ep.name!r} from distribution {dist!r} failed to load: {_one_line(exc)}")
                continue
            origin[name] = (dist, version)
    for plugin, dist in extra_plugins:
        if pm.is_registered(plugin):  # already loaded through its entry point
            continue
        name = pm.register(plugin, name=f"{dist}:{id(plugin)}")
        if name is not None:
            origin[name] = (dist, "dev")

    for problem in hook_problems(pm, {n: d for n, (d, _) in origin.items()}):
        _report(registry, problem)

    # Each implementation is called on its own, so one plugin's exception cannot stop the others.
    for kind, hook_name in _HOOKS.items():
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            dist, version = origin[impl.plugin_name]

            def register(obj: Any, *, _kind: str = kind, _dist: str = dist, _ver: str = version) -> None:
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not name:
                    raise PluginError(f"{_dist}: a registered {_kind} has no 'name' attribute: {obj!r}")
                if _kind == "truth":
                    check_truth_declaration(obj)  # a ValueError is reported like any failing hook
                else:
                    problems = declaration_problems(_kind, obj)
                    if problems:  # not registered: every plan using it would fail
                        _report(registry, f"{_kind} {describe(obj, _dist)} is not registered: " + "; ".join(problems))
                        return
                    roles = role_problems(getattr(obj, "metrics", [])) if _kind == "evaluator" and strict_mode() else []
                    if roles:  # the test kit's check of metric roles (silent outside strict mode)
                        _report(registry, f"{_kind} {describe(obj, _dist)}: " + "; ".join(roles))
                clash = registry.add(Entry(_kind, name, obj, _dist, _ver))
                if clash:
                    _report(registry, clash)

            try:
                impl.function(register=register)
            except PluginError:
                raise
            except Exception as exc:
                _report(registry, f"plugin from distribution {dist!r} failed in {hook_name}: {_one_line(exc)}")

    if entry_points and not registry.entries["space"] and not registry.disabled and \
            not any(ep.dist and ep.dist.name == "rcx" for ep in _entry_points()):
        _report(registry, "rcx's own entry points were not found: install rcx (pip install -e .) rather than "
                          "running it from a source tree")
    return registry


def _one_line(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


_cached: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _cached
    if _cached is None:
        _cached = load_registry()
    return _cached


_truth_cache: dict[type, Values] = {}
_truth_lock = threading.Lock()


def truth_values(cls: type[TruthTable]) -> Values:
    """``cls().load()``, read once per process (the TUI's reload thread and the CLI share it)."""
    with _truth_lock:
        if cls not in _truth_cache:
            _truth_cache[cls] = cls().load()
        return _truth_cache[cls]
