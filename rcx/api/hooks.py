"""Plugin hooks. Every hook only *registers* things; work happens outside the hook loop.

A plugin module implements any of these with ``@hookimpl`` (``from rcx.api import hookimpl``) and
is exposed through an entry point in the ``rcx`` group::

    [project.entry-points.rcx]
    my_plugin = "my_package.plugin_module"

Never give a hookimpl parameter a default value.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("rcx")
hookimpl = pluggy.HookimplMarker("rcx")


@hookspec
def rcx_register_evaluators(register: Callable[[type], None]) -> None:
    """Call ``register(EvaluatorClass)`` for each evaluator (subclass of ``rcx.api.Evaluator``)."""


@hookspec
def rcx_register_spaces(register: Callable[[type], None]) -> None:
    """Call ``register(SpaceClass)`` for each search space (subclass of ``rcx.api.SearchSpace``)."""


@hookspec
def rcx_register_datasets(register: Callable[[type], None]) -> None:
    """Call ``register(ProviderClass)`` for each dataset provider (subclass of ``rcx.api.DatasetProvider``)."""


@hookspec
def rcx_register_truths(register: Callable[[type], None]) -> None:
    """Call ``register(TruthTableClass)`` for each truth table (subclass of ``rcx.api.TruthTable``)."""
