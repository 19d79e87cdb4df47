"""rcx's test kit for plugin authors: a pytest plugin, installed with rcx.

rcx registers this module with pytest (a ``pytest11`` entry point), so in any project where
rcx is installed these fixtures exist without a ``conftest.py``:

- ``rcx_plugins``: the plugins to add to the registry, ``[]`` by default. Override it in your
  ``conftest.py`` to test a plugin module that is not installed::

      @pytest.fixture
      def rcx_plugins():
          from my_package import plugin
          return [plugin]

  (An installed plugin is loaded through its entry point; listing it too does no harm.)
- ``rcx_registry``: a registry with rcx's built-ins, every installed plugin and ``rcx_plugins``,
  loaded in strict mode: a plugin that fails to load, declares something invalid, or registers
  a name another distribution registers fails the test; so does a metric whose role reads wrong
  (a time, throughput, size or spread such as ``seconds``, ``throughput``, ``params`` or
  ``score_std`` declared a score rather than ``role=rcx.api.DESCRIPTION``:
  ``rcx.plugin_checks.role_problems``).
- ``rcx_run``: ``rcx_run(evaluators, **options)`` runs a small plan (:func:`plan_text`'s
  options: ``space=``, ``space_options=``, ``dataset=``, ``dataset_options=``, ``n=``,
  ``sampler=`` (``random``, ``exhaustive``...), ``seed=``) on the synthetic dataset
  (:data:`SMALL_DATASET`) in a temporary folder and returns its results table.
- ``rcx_strict``: strict plugin checks (``RCX_STRICT_PLUGINS=1``) for the test.

What a run returns (``rcx.core.results.ResultsTable``): ``table.rows``, one dict per candidate
with the columns ``table.columns``: ``arch`` (the canonical id), the space's parameters under
their own names, ``params``, ``flops``, ``features``, ``ratio``, ``out_shape``, then per
evaluator instance ``<instance>.status`` (``done``, ``failed``, ``invalid`` or a declared
status), ``<instance>.<metric>`` for each metric and ``<instance>.error`` (why it failed, else
None). ``table.evaluators`` lists the instances, ``table.higher_is_better`` the declared
direction of each metric column.

Failures: an evaluation that raises, runs out of memory or returns NaN/infinity **does not
raise**: its row says ``failed`` with the reason in ``<instance>.error``, as in a real run.
Declaration problems are checked strictly: a metric or status the evaluator does not declare,
or a metric returned as NaN or infinity, raises ``rcx.plugin_checks.ResultError`` naming it.
Assert the rest with :func:`assert_results_ok` (no failed evaluation and no missing or
non-finite headline value) and a plan's refusal with :func:`assert_plan_error`.

The same things as functions: :func:`make_registry`, :func:`plan_text`, :func:`run_plan`,
:func:`strict_plugins` (a ``with`` block in strict mode), :func:`check_space`, which checks a
search space against the contract rcx relies on (ids round-trip and are canonical, shapes and
parameter counts agree with the built network), :func:`assert_results_ok` and
:func:`assert_plan_error`.

This module is imported into every pytest session of an environment with rcx: at import it
loads nothing heavy (no torch); the helpers import what they need when called.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rcx.core.plan import PlanError
    from rcx.core.results import ResultsTable
    from rcx.plugins import Registry

STRICT_ENV = "RCX_STRICT_PLUGINS"

#: The synthetic dataset's options in :func:`plan_text` (and so ``rcx_run``): 96 training and
#: 32 test images of 3x16x16 in 10 classes; small and quick. Pass ``dataset_options`` to change.
SMALL_DATASET: dict[str, Any] = {"n_train": 96, "n_test": 32, "image_size": 16}


@contextmanager
def strict_plugins(on: bool = True) -> Iterator[None]:
    """``RCX_STRICT_PLUGINS=1`` (or unset, with ``on=False``) inside the ``with`` block."""
    before = os.environ.get(STRICT_ENV)
    if on:
        os.environ[STRICT_ENV] = "1"
    else:
        os.environ.pop(STRICT_ENV, None)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STRICT_ENV, None)
        else:
            os.environ[STRICT_ENV] = before


def make_registry(*plugins: Any, entry_points: bool = True, strict: bool = True) -> Registry:
    """A registry of the installed plugins (with ``entry_points``) and ``plugins`` (modules or
    objects with ``@hookimpl`` functions). With ``strict``, any plugin problem raises
    ``rcx.plugins.PluginError`` instead of printing a warning."""
    from rcx.plugins import load_registry

    extra = [(p, getattr(p, "__name__", "test-plugin").partition(".")[0]) for p in plugins]
    with strict_plugins(strict):
        return load_registry(extra, entry_points=entry_points)


def _toml_value(value: Any) -> str:
    """A scalar or list of scalars as TOML (JSON's spelling of them is valid TOML)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float) and not (value == value and abs(value) != float("inf")):
        raise ValueError(f"{value!r} has no TOML spelling in a plan")
    return json.dumps(value)


def _table(header: str, values: Mapping[str, Any]) -> str:
    lines = [f"[{header}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines)


def plan_text(
    evaluators: Mapping[str, Mapping[str, Any]] | Sequence[str],
    *,
    space: str = "ksd",
    space_options: Mapping[str, Any] | None = None,
    dataset: str = "synthetic",
    dataset_options: Mapping[str, Any] | None = None,
    n: int = 3,
    sampler: str = "random",
    seed: int = 0,
    output: str | Path = "results.db",
) -> str:
    """The TOML text of a small plan on the CPU.

    ``evaluators``: instance names (each the evaluator's name) or ``{instance: options}``; an
    instance named otherwise than its evaluator says so with an ``evaluator`` key. The space
    defaults to ``ksd`` at 4 channels, the dataset to :data:`SMALL_DATASET`; ``n`` candidates
    are drawn by ``sampler`` (valid ones only).
    """
    if not isinstance(evaluators, Mapping):
        evaluators = {name: {} for name in evaluators}
    if space_options is None:
        space_options = {"channels": 4} if space == "ksd" else {}
    if dataset_options is None:
        dataset_options = SMALL_DATASET if dataset == "synthetic" else {}
    parts = [
        f'name = "rcx-testing"\nseed = {int(seed)}\ndevice = "cpu"\noutput = {json.dumps(str(output))}',
        _table("dataset", {"name": dataset, **dataset_options}),
        _table("space", {"name": space, **space_options}),
        _table("sampler", {"kind": sampler, "n": n, "valid_only": True}),
        *(_table(f"evaluators.{inst}", opts) for inst, opts in evaluators.items()),
    ]
    return "\n\n".join(parts) + "\n"


def run_plan(registry: Registry, text: str, directory: str | Path | None = None, *,
             strict: bool = True) -> ResultsTable:
    """Run plan ``text`` (its ``output`` is put under ``directory``, a temporary folder by
    default) and return the results table. With ``strict``, an evaluator that returns an
    undeclared metric or status raises ``rcx.plugin_checks.ResultError``."""
    from rcx.core import session
    from rcx.core.plan import parse_plan
    from rcx.core.results import results_table
    from rcx.core.runner import Runner
    from rcx.core.store import Store

    with tempfile.TemporaryDirectory(prefix="rcx-testing-") as tmp:
        folder = Path(directory) if directory is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        plan = parse_plan(text, registry, source="rcx.testing plan", output=folder / "results.db")
        runner = Runner(plan, registry)
        runner.checker.strict = strict
        run_id = session.run_plan(runner)  # the CLI's and the TUI's sequence: lock, check, set up, run
        store = Store.open_readonly(plan.output)
        try:
            return results_table(store, run_id, registry)
        finally:
            store.close()


def check_space(space: Any, *, in_shape: tuple[int, int, int] = (3, 16, 16), num_classes: int = 10,
                samples: int = 3, aliases: Mapping[str, str] | None = None) -> None:
    """Check a search-space instance against what rcx relies on; raises ``AssertionError``.

    For the first ``samples`` architectures: ``arch_at(i)`` and ``from_id(arch.id)`` agree and
    ids are unique; ids are canonical (``canonical(arch.id) == arch.id``) and a non-canonical
    spelling (numbers with a leading zero, surrounding spaces) is either refused with a
    ``ValueError`` or mapped to the canonical id; ``describe`` gives an ``ArchInfo`` whose
    ``params`` equal the built network's parameter count when ``valid``; ``build`` maps (B, C,
    H, W) to the described ``out_shape`` and ``build_classifier`` to (B, num_classes) logits.
    ``aliases`` maps other spellings your space accepts to their canonical ids (e.g.
    ``{"c08-16": "c8-16"}``): each must canonicalise to its id. A space that declares a
    :meth:`~rcx.api.arch.SearchSpace.grid` gets seeded draws of it through ``from_grid``.
    """
    import torch

    from rcx.api.arch import Arch, ArchInfo

    size = len(space)
    assert size > 0, f"{type(space).__name__}: len(space) is {size}"
    seen: set[str] = set()
    for i in range(min(samples, size)):
        arch = space.arch_at(i)
        assert isinstance(arch, Arch), f"arch_at({i}) returned {arch!r}, not an Arch"
        assert arch.id not in seen, f"arch_at({i}) repeats the id {arch.id!r}"
        seen.add(arch.id)
        again = space.from_id(arch.id)
        assert again.id == arch.id and again.params == arch.params, \
            f"from_id({arch.id!r}) gives {again!r}, not {arch!r}"
        _check_canonical(space, arch.id, _respellings(arch.id))
        info = space.describe(arch, in_shape)
        assert isinstance(info, ArchInfo), f"describe({arch.id!r}) returned {type(info).__name__}, not ArchInfo"
        if not info.valid:
            assert info.reason, f"describe({arch.id!r}) says invalid without a reason"
            continue
        torch.manual_seed(0)
        net = space.build(arch, in_shape).eval()
        count = sum(p.numel() for p in net.parameters())
        assert count == info.params, f"{arch.id}: describe says {info.params} parameters, build has {count}"
        with torch.no_grad():
            out = net(torch.zeros(2, *in_shape))
        assert info.out_shape is not None, f"{arch.id}: describe gives no out_shape"
        assert tuple(out.shape[1:]) == tuple(info.out_shape), \
            f"{arch.id}: describe says out_shape {info.out_shape}, build gives {tuple(out.shape[1:])}"
        head = space.build_classifier(arch, in_shape, num_classes).eval()
        with torch.no_grad():
            logits = head(torch.zeros(2, *in_shape))
        assert tuple(logits.shape) == (2, num_classes), f"{arch.id}: classifier gives {tuple(logits.shape)}"
    for spelling, canonical in (aliases or {}).items():
        got = space.canonical(spelling)
        assert got == canonical, f"canonical({spelling!r}) gives {got!r}, not {canonical!r} (aliases)"
        _check_canonical(space, canonical, [])
    _check_grid(space, samples)


def _respellings(arch_id: str) -> list[str]:
    """Other spellings of an id that name the same thing in any sane scheme."""
    padded = re.sub(r"\d+", lambda m: "0" + m.group(), arch_id)
    return [s for s in (padded, f" {arch_id} ") if s != arch_id]


def _check_canonical(space: Any, arch_id: str, spellings: list[str]) -> None:
    got = space.canonical(arch_id)
    assert got == arch_id, (f"canonical({arch_id!r}) gives {got!r}: the id of an architecture of the space must be "
                            "canonical (its own canonical form)")
    for spelling in spellings:
        try:
            got = space.canonical(spelling)
        except (ValueError, KeyError, IndexError, TypeError):
            continue  # refused: fine
        assert got == arch_id, (
            f"{type(space).__name__} accepts {spelling!r} for {arch_id!r} but canonical({spelling!r}) gives {got!r}: "
            "rcx would evaluate one architecture under two ids. Map every spelling from_id accepts to one id "
            "(override canonical(), or build the id from the parsed values in from_id), or refuse it with ValueError")


def _check_grid(space: Any, samples: int) -> None:
    """A declared grid (search): ``from_grid`` of seeded value draws gives architectures of the space."""
    import random

    grid = space.grid()
    if grid is None:
        return
    assert isinstance(grid, dict) and grid, f"{type(space).__name__}.grid() must be a non-empty dict or None"
    rng = random.Random(0)
    for _ in range(max(samples, 5)):
        values = {name: rng.choice(list(choices)) for name, choices in grid.items()}
        arch = space.from_grid(values)
        again = space.from_id(arch.id)
        assert again.id == arch.id, f"from_grid({values}) gives {arch.id!r}, which from_id reads as {again.id!r}"


# -- assertions --------------------------------------------------------------------------------
def assert_results_ok(table: ResultsTable, *, statuses: Sequence[str] = ("done",), headline: bool = True) -> None:
    """Assert a run went well: every evaluation's status is one of ``statuses`` (a failed one
    is listed with its error) and, with ``headline``, every done evaluation has each headline
    metric as a finite number (not None, NaN or infinity). Raises ``AssertionError``."""
    problems = []
    for row in table.rows:
        for inst in table.evaluators:
            status = row.get(f"{inst}.status")
            if status not in statuses:
                error = row.get(f"{inst}.error")
                problems.append(f"{row['arch']} / {inst}: {status}" + (f": {error}" if error else ""))
                continue
            if headline and status == "done":
                for metric in table.headline.get(inst, ()):
                    value = row.get(f"{inst}.{metric}")
                    if not isinstance(value, (int, float)) or not math.isfinite(value):
                        problems.append(f"{row['arch']} / {inst}: headline metric {metric!r} is {value!r}")
    assert not problems, f"{len(problems)} problem(s) in the results:\n" + "\n".join(problems[:20])


def assert_plan_error(registry: Registry, text: str, *, path: str | None = None,
                      match: str | None = None) -> PlanError:
    """Assert that plan ``text`` is refused, and return the ``rcx.core.plan.PlanError``.

    ``path``: a problem must be at this key path (e.g. ``evaluators.echo.scale``); ``match``:
    a problem (at ``path`` when given) must match this regular expression (``re.search``).
    Each problem has ``.path``, ``.message`` and ``.line``; ``str(error)`` is what the user
    sees."""
    from rcx.core.plan import PlanError, parse_plan

    try:
        parse_plan(text, registry, source="rcx.testing plan")
    except PlanError as exc:
        problems = [p for p in exc.problems if path is None or p.path == path]
        assert problems, f"no problem at {path!r}; the problems:\n{exc}"
        if match is not None:
            assert any(re.search(match, p.message) for p in problems), f"no problem matches {match!r}:\n{exc}"
        return exc
    raise AssertionError("the plan was accepted")


# -- pytest fixtures ---------------------------------------------------------------------------
@pytest.fixture
def rcx_plugins() -> list[Any]:
    """Plugin modules to add to ``rcx_registry``: override in your conftest.py."""
    return []


@pytest.fixture
def rcx_registry(rcx_plugins: list[Any]) -> Registry:
    """Built-ins, installed plugins and ``rcx_plugins``, loaded strictly."""
    return make_registry(*rcx_plugins)


@pytest.fixture
def rcx_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strict plugin checks for this test (``RCX_STRICT_PLUGINS=1``)."""
    monkeypatch.setenv(STRICT_ENV, "1")


@pytest.fixture
def rcx_run(rcx_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``rcx_run(evaluators, **plan_text options) -> ResultsTable``: a small strict run."""
    monkeypatch.setenv("RCX_CACHE_DIR", str(tmp_path / "rcx-cache"))
    count = iter(range(1_000_000))

    def run(evaluators: Mapping[str, Mapping[str, Any]] | Sequence[str], **options: Any) -> ResultsTable:
        return run_plan(rcx_registry, plan_text(evaluators, **options), tmp_path / f"run{next(count)}")

    return run
