"""Plans: the TOML file that says what to run, and its validation.

A plan names a dataset, a search space, a sampler, one or more evaluators with options, the
device, the seed and the results database::

    seed = 0
    device = "auto"                 # auto | cpu | cuda | cuda:N
    output = "runs/quickstart.db"   # relative to the current directory

    [dataset]
    name = "synthetic"              # + common options (train_size, selection, resize...) and the provider's

    [space]
    name = "ksd"                    # + the space's options

    [sampler]
    kind = "random"                 # exhaustive | random
    n = 40

    [evaluators.ridge_rfm]          # instance name; `evaluator = "..."` picks another plugin
    trials = 5

Validation collects every problem (key path, message, line) before any work is done.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli

from rcx.api.options import Option, validate_options
from rcx.core.stages import ONE_OR_LIST, STAGE_KEYS, STAGE_OPTIONS, Stage
from rcx.plugins import Registry, UnknownName

DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
"""What ``device`` may say."""
INSTANCE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
"""What an evaluator table's name (``[evaluators.NAME]``, its result columns) may be."""


@dataclass(frozen=True)
class Problem:
    """One problem in a plan: dotted key path, message and 1-based line (0 if unknown)."""

    path: str
    message: str
    line: int = 0

    def format(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PlanError(Exception):
    """A plan that cannot run; ``problems`` lists everything that is wrong with it (a message
    repeated for many keys kept :data:`MAX_REPEATS` times, then counted: see :func:`cap_repeats`);
    ``total`` counts them all."""

    def __init__(self, problems: list[Problem], source: str = "plan", total: int | None = None) -> None:
        self.problems = problems
        self.source = source
        self.total = len(problems) if total is None else total
        super().__init__("\n".join(p.format(source) for p in problems))


MAX_REPEATS = 5
"""Problems with one message (e.g. "unknown option (known: ...)") listed before the rest are counted."""


def cap_repeats(problems: list[Problem], keep: int = MAX_REPEATS) -> list[Problem]:
    """``problems`` with each message kept for its first ``keep`` keys; the rest of a message's
    keys become one problem that counts them (900,000 unknown keys: a few lines, not 228 MB)."""
    seen: dict[str, int] = {}
    out: list[Problem] = []
    for p in problems:
        seen[p.message] = seen.get(p.message, 0) + 1
        if seen[p.message] <= keep:
            out.append(p)
    for message, n in seen.items():
        if n > keep:
            first = next(p for p in problems if p.message == message)
            brief = message if len(message) <= 60 else message[:57] + "..."
            out.append(Problem("", f"and {n - keep:,} more keys with the same problem ({brief})", first.line))
    return out


@dataclass(frozen=True)
class EvaluatorSpec:
    """An evaluator instance: ``instance`` names its result columns, ``plugin`` its class."""

    instance: str
    plugin: str
    options: dict[str, Any]
    stage: Stage | None = None
    unhashed: tuple[str, ...] = ()  # options at a neutral default: not part of the plan's identity

    def identity(self) -> dict[str, Any]:
        """What of this instance determines its results (for the plan hash)."""
        return {"evaluator": self.plugin, **{k: v for k, v in self.options.items() if k not in self.unhashed},
                **(self.stage.plan_keys() if self.stage else {})}


@dataclass
class Plan:
    """A validated plan with every default filled in."""

    text: str
    source: str
    name: str
    seed: int
    device: str
    output: Path
    dataset: str
    dataset_options: dict[str, Any]
    space: str
    space_options: dict[str, Any]
    sampler: dict[str, Any]
    evaluators: list[EvaluatorSpec] = field(default_factory=list)

    def normalized(self) -> dict[str, Any]:
        """Everything that determines the results (not the output path nor the name).

        The device counts by its kind only (``cuda:1`` is ``cuda``): another GPU of the same
        kind, or another executor, computes the same results and resumes the same run.
        """
        return {
            "seed": self.seed,
            "device": device_kind(self.device),
            "dataset": {"name": self.dataset, **self.dataset_options},
            "space": {"name": self.space, **self.space_options},
            # the keys only one kind reads only where set, so plans written before them keep their hash
            "sampler": {k: v for k, v in self.sampler.items() if v is not None or k not in _kind_of_key()},
            "evaluators": {e.instance: e.identity() for e in self.evaluators},
        }

    @property
    def hash(self) -> str:
        return plan_hash(self.normalized())

    def matches(self, stored_hash: str, stored_plan: dict[str, Any]) -> bool:
        """True when a run stored with ``stored_hash`` and normalised plan ``stored_plan`` is a
        run of this plan. Files written before the device counted by its kind hold the hash of
        the full device (``cuda:0``): their stored plan is re-hashed with the device's kind."""
        if stored_hash == self.hash:
            return True
        if not isinstance(stored_plan, dict) or not isinstance(stored_plan.get("device"), str):
            return False
        return plan_hash({**stored_plan, "device": device_kind(stored_plan["device"])}) == self.hash


def _kind_of_key() -> dict[str, str]:
    from rcx.core.samplers import KIND_OF_KEY

    return KIND_OF_KEY


def device_kind(device: str) -> str:
    """``cuda:1`` -> ``cuda``; ``auto``, ``cpu`` and ``cuda`` stay as they are."""
    return device.partition(":")[0]


def plan_hash(normalized: dict[str, Any]) -> str:
    """The plan's identity: 16 hex digits of the SHA-256 of its normalised JSON."""
    blob = json.dumps(normalized, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def top_options(stem: str = "plan") -> list[Option]:
    """The plan's top-level keys with their defaults: the one declaration the validator, the
    TUI's form and its new plans use. ``stem`` is the plan file's name without ``.toml``, which
    ``name`` and ``output`` default to."""
    return [
        Option("name", str, stem, "run name, stored with the run"),
        Option("description", str, "", "free text"),
        Option("seed", int, 0, "plan seed: every random draw derives from (seed, evaluator, architecture, trial)",
               min=0),
        Option("device", str, "auto", "auto | cpu | cuda | cuda:N"),
        Option("output", str, f"runs/{stem}.db", "results file, relative to the current directory"),
    ]


TABLES = ("dataset", "space", "sampler", "evaluators")
"""The plan's tables, after its :func:`top_options`: ``[dataset]``, ``[space]``, ``[sampler]``
and ``[evaluators.NAME]``."""

_TOP_KEYS = (*(o.name for o in top_options()), *TABLES)


def key_lines(text: str) -> dict[str, int]:
    """Map dotted key paths to the 1-based line where they are defined (best effort).

    tomli gives positions for syntax errors only; this scan finds table headers and ``key =``
    lines so semantic problems can point at a line too.
    """
    lines: dict[str, int] = {}
    table = ""
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    assign = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
    for no, raw in enumerate(text.splitlines(), start=1):
        m = header.match(raw)
        if m:
            table = _dotted(m.group(1))
            lines.setdefault(table, no)
            continue
        m = assign.match(raw)
        if m:
            key = _dotted(m.group(1))
            lines.setdefault(f"{table}.{key}" if table else key, no)
    return lines


def _dotted(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


def _line_for(path: str, lines: dict[str, int]) -> int:
    while path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0]
    return 0


def load_plan(path: str | Path, registry: Registry, output: str | Path | None = None) -> Plan:
    """Read and validate a plan file; raises :class:`PlanError` with every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError([Problem("", f"cannot read the plan: {exc.strerror}")], str(path)) from None
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark is allowed
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PlanError([Problem("", f"not UTF-8 text: byte {exc.start} (0x{data[exc.start]:02x}, line {line}) "
                                     f"{exc.reason}; save the plan as UTF-8", line)], str(path)) from None
    return parse_plan(text, registry, source=str(path), output=output)


def parse_plan(text: str, registry: Registry, source: str = "plan", output: str | Path | None = None, *,
               file_ids: Sequence[str] | None = None) -> Plan:
    """Validate plan text; raises :class:`PlanError` listing every problem at once.

    ``source`` names the plan in messages; a relative ``sampler.file`` is read from its folder.
    ``file_ids``: the ids that file held when the plan was first read (:func:`file_ids` of a
    stored run's plan, or of the driver's plan for a Ray worker): used instead of reading the
    file again, so a plan read back elsewhere (a resume from its results file, a worker on
    another node, a plan whose file moved) names the same candidates. Ignored unless the
    sampler reads a file.
    """
    try:
        raw = tomli.loads(text)
    except ValueError as exc:  # tomli: TOMLDecodeError, or Python's limit on an integer's digits
        if not isinstance(exc, tomli.TOMLDecodeError):
            raise PlanError([Problem("", f"TOML value error: {exc}")], source) from None
        line, col = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
        msg = getattr(exc, "msg", str(exc))
        raise PlanError([Problem("", f"TOML syntax error at line {line}, column {col}: {msg}", line)], source) from None

    lines = key_lines(text)
    problems: list[tuple[str, str]] = []

    for key in raw:
        if key not in _TOP_KEYS:
            problems.append((key, f"unknown key (known: {', '.join(_TOP_KEYS)})"))

    options = top_options(Path(source).stem)
    top, top_problems = validate_options(options, {k: raw[k] for k in raw if k in {o.name for o in options}}, "")
    problems += [(p.lstrip("."), m) for p, m in top_problems]
    out = top.get("output")
    if isinstance(out, str) and (not out.strip() or "\0" in out or out.endswith(("/", os.sep))):
        problems.append(("output", f"must name a results file, such as runs/NAME.db, got {out!r}"))
    if isinstance(top.get("device"), str) and not DEVICE_RE.match(top["device"]):
        problems.append(("device", f"must be auto, cpu, cuda or cuda:N, got {top['device']!r}"))

    dataset, dataset_options = _component(raw, "dataset", "dataset", registry, problems, _common_dataset_options())
    space, space_options = _component(raw, "space", "space", registry, problems, [])

    from rcx.core.samplers import KIND_OF_KEY, SAMPLER_OPTIONS

    sampler_raw = raw.get("sampler", {})
    if not isinstance(sampler_raw, dict):
        problems.append(("sampler", "must be a table ([sampler])"))
        sampler_raw = {}
    sampler, sampler_problems = validate_options(SAMPLER_OPTIONS, sampler_raw, "sampler")
    problems += sampler_problems
    said = {p for p, _ in problems}  # a key already refused gets no follow-on "needs" message
    if sampler.get("kind") == "random" and sampler.get("n") is None and "sampler.n" not in said:
        problems.append(("sampler.n", "the random sampler needs n, the number of architectures to draw"))
    kind = sampler.get("kind")
    if kind == "ids":
        if (sampler.get("ids") is None) == (sampler.get("file") is None):
            problems.append(("sampler", 'the ids sampler needs either ids = [...] or file = "top.csv" (one of them)'))
    problems += [(f"sampler.{k}", f'only the {who} sampler reads {k}; set kind = "{who}"')
                 for k, who in KIND_OF_KEY.items() if sampler.get(k) is not None and kind != who]
    if kind == "optuna" and sampler.get("n") is not None:
        problems.append(("sampler.n", "the optuna sampler counts trials = N, not n"))

    hint = None
    if dataset is not None and not any(p.startswith("dataset") for p, _ in problems):
        hint = data_hint(registry.get("dataset", dataset), dataset_options)
    unknown: dict[str, tuple[str, str, str]] = {}
    evaluators = _evaluators(raw, registry, problems, dataset_options, unknown, hint)
    problems += _unknown_evaluators(unknown, registry, plan_needs(text))
    if kind == "optuna":
        _check_search(sampler, evaluators, registry, problems, set(unknown))

    if dataset is not None and not any(p.startswith("dataset") for p, _ in problems):
        from rcx.core.data_prep import check_common

        common = [(f"dataset.{k}", m) for k, m in check_common(dataset_options)]
        problems += common or _memory_problems(registry.get("dataset", dataset), dataset_options)

    if space is not None and not any(p.startswith("space") for p, _ in problems):
        try:
            space_obj = registry.get("space", space)(**space_options)
            size = len(space_obj)
        except (ValueError, TypeError) as exc:
            problems.append(("space", str(exc)))
        except OverflowError:  # len() above sys.maxsize
            problems.append(("space", "has more than 2**63 architectures; give its options fewer values"))
        else:
            if kind == "random" and (sampler.get("n") or 0) > size:
                problems.append(("sampler.n", f"{sampler['n']} is more than the {size:,} architectures of the space"))
            if kind == "optuna" and space_obj.grid() is None:
                problems.append(("sampler.kind", f"the {space} space declares no parameter grid, so it cannot be "
                                                 "searched; use random, exhaustive or ids"))
            if kind == "ids" and not any(p.startswith("sampler") for p, _ in problems):
                sampler["ids"] = _chosen_ids(sampler, space_obj, source, text, lines, problems, file_ids)
            if hint is not None and not any(p.startswith(("sampler", "space")) for p, _ in problems):
                problems += _fit_problems(space_obj, sampler, top.get("seed"), hint[2])

    if problems:
        raise PlanError(cap_repeats([Problem(p, m, _line_for(p, lines)) for p, m in problems]), source,
                        total=len(problems))

    return Plan(
        text=text,
        source=source,
        name=top["name"],
        seed=top["seed"],
        device=top["device"],
        output=Path(output if output is not None else top["output"]).expanduser(),
        dataset=dataset,
        dataset_options=dataset_options,
        space=space,
        space_options=space_options,
        sampler=sampler,
        evaluators=evaluators,
    )


def _check_search(sampler: dict[str, Any], evaluators: list[EvaluatorSpec], registry: Registry,
                  problems: list[tuple[str, str]], unknown: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """The optuna sampler's keys: Optuna installed, trials, 1-2 objectives from stage 0 (stages
    run after the search, on its candidates). An objective of an ``unknown`` evaluator table is
    not reported again."""
    from rcx.core.search import COSTS, INSTALL_HINT, optuna_available

    if not optuna_available():
        problems.append(("sampler.kind", INSTALL_HINT))
    if sampler.get("trials") is None and not any(p == "sampler.trials" for p, _ in problems):
        problems.append(("sampler.trials", "the optuna sampler needs trials = N, the candidates to propose"))
    objective = sampler.get("objective")
    instances = {e.instance: e for e in evaluators}
    if any(p == "sampler.objective" for p, _ in problems):
        pass  # the option check said what is wrong
    elif objective is None or not 1 <= len(objective) <= 2:
        problems.append(("sampler.objective", 'the optuna sampler needs one or two objectives, e.g. objective = '
                                              '["naswot.score"] or ["naswot.score", "flops"]'))
    else:
        for column in objective:
            instance, _, metric = column.partition(".")
            if column in COSTS or instance in unknown:
                continue
            if instance not in instances:
                problems.append(("sampler.objective",
                                 f"{column!r} must be instance.metric of an evaluator table "
                                 f"({', '.join(instances) or 'none'}) or one of {', '.join(COSTS)}"))
                continue
            declared = [m.name for m in registry.get("evaluator", instances[instance].plugin).metrics]
            if metric not in declared:
                problems.append(("sampler.objective", f"{instance} reports no metric {metric!r} "
                                                      f"(declared: {', '.join(declared) or 'none'})"))
    for column in objective or ():
        spec = instances.get(str(column).partition(".")[0])
        if spec is not None and spec.stage is not None:
            problems.append(("sampler.objective", f"{column!r} comes from a stage ({spec.instance}: "
                                                  f"{spec.stage.describe()}), which runs after the search; an "
                                                  "objective must come from an evaluator without top/by"))


def search_objectives(plan: Plan, registry: Registry) -> list[Any]:
    """The optuna sampler's :class:`~rcx.core.search.Objective` list, directions declared."""
    from rcx.core.search import COSTS, Objective

    instances = {e.instance: e for e in plan.evaluators}
    out = []
    for column in plan.sampler["objective"]:
        if column in COSTS:
            out.append(Objective(column, maximize=False))
        else:
            instance, _, metric = column.partition(".")
            cls = registry.get("evaluator", instances[instance].plugin)
            out.append(Objective(column, next(m.higher_is_better for m in cls.metrics if m.name == metric)))
    return out


_MAX_ID_PROBLEMS = 10


def file_ids(sampler: Mapping[str, Any]) -> list[str] | None:
    """The ids the ``ids`` sampler read from its ``file``, from a validated plan's ``sampler``
    or a stored run's (``plan["sampler"]`` of :class:`~rcx.core.store.RunInfo`: the normalised
    plan holds them); None for a sampler that reads no file, or a stored plan without them."""
    ids = sampler.get("ids")
    if sampler.get("kind") != "ids" or sampler.get("file") is None or not isinstance(ids, list):
        return None
    return [str(i) for i in ids]


def _chosen_ids(sampler: dict[str, Any], space: Any, source: str, text: str, lines: dict[str, int],
                problems: list[tuple[str, str]], known: Sequence[str] | None = None) -> list[str]:
    """The ``ids`` sampler's canonical ids, from ``ids = [...]`` or the CSV ``file`` (``known``:
    the ids read from that file before, see :func:`parse_plan`'s ``file_ids``).

    Appends a problem per unknown or malformed id (at most ten, then a count); an id in the plan
    points at its own line (``sampler.ids[i]`` in ``lines``), one in the file names its line there.
    """
    from rcx.core.samplers import parse_ids, read_ids_file

    found: list[tuple[str, str]] = []
    if sampler.get("file") is not None and known is not None:
        ids, bad = parse_ids(space, list(enumerate(known, start=1)))
        found = [("sampler.file", f"id {i} of those read from {sampler['file']} before: {msg}") for i, msg in bad]
    elif sampler.get("file") is not None:
        path = Path(sampler["file"]).expanduser()
        if not path.is_absolute() and source != "plan":
            path = Path(source).parent / path
        try:
            pairs = read_ids_file(path)
        except ValueError as exc:
            problems.append(("sampler.file", str(exc)))
            return []
        if not pairs:
            problems.append(("sampler.file", f"{path} lists no architecture ids in its arch column"))
        ids, bad = parse_ids(space, pairs)
        found = [("sampler.file", f"{path.name}, line {line}: {msg}") for line, msg in bad]
    else:
        given = list(sampler["ids"])
        ids, bad = parse_ids(space, list(enumerate(given)))
        start = lines.get("sampler.ids", 0)
        text_lines = text.splitlines()
        for i, msg in bad:
            key = f"sampler.ids[{i}]"
            lines[key] = _item_line(text_lines, start, str(given[i])) or start  # type: ignore[index]
            found.append((key, msg))
    if len(found) > _MAX_ID_PROBLEMS:
        rest = len(found) - _MAX_ID_PROBLEMS
        found = found[:_MAX_ID_PROBLEMS] + [(found[0][0].partition("[")[0], f"and {rest:,} more ids that are not "
                                             f"{space.name} architectures")]
    problems += found
    return ids


def _item_line(text_lines: list[str], start: int, item: str) -> int:
    """The 1-based line, from ``start`` on, that holds ``item`` as a quoted string (0: not found)."""
    quoted = (f'"{item}"', f"'{item}'")
    for no in range(max(start, 1), len(text_lines) + 1):
        if any(q in text_lines[no - 1] for q in quoted):
            return no
    return 0


def available_memory() -> int | None:
    """Bytes of memory the system can give a new process now (``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _memory_problems(provider: Any, options: dict[str, Any]) -> list[tuple[str, str]]:
    """A ``dataset`` problem when the images alone would not fit in the available memory."""
    from rcx.core.data_prep import estimate_memory

    estimate = estimate_memory(provider, options)
    available = available_memory()
    if estimate is None or available is None or estimate[0] <= available:
        return []
    need, detail = estimate
    return [("dataset", f"needs about {_gb(need)} of memory for its images ({detail}), more than the "
                        f"{_gb(available)} available now; ask for fewer or smaller images")]


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def _common_dataset_options() -> list[Option]:
    from rcx.core.data_prep import COMMON_OPTIONS

    return COMMON_OPTIONS


_NEEDS_RE = re.compile(r"^#\s*needs:\s*(.+?)\s*$", re.IGNORECASE)


def plan_needs(text: str) -> list[str]:
    """The plugin distributions a plan's leading comment names on a ``# needs: a, b`` line."""
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip() and not line.startswith("#"):
            break
        m = _NEEDS_RE.match(line)
        if m:
            return [n.strip() for n in m.group(1).split(",") if n.strip()]
    return []


def _unknown_evaluators(unknown: dict[str, tuple[str, str, str]], registry: Registry,
                        needs: list[str]) -> list[tuple[str, str]]:
    """One problem per plugin package that would provide the plan's unknown evaluators (the
    known plugin packages, else the plan's ``# needs:`` line), one per other unknown name."""
    from rcx.plugins import KNOWN_PLUGINS, NameClash

    available = set(registry.versions())
    wanted = [d for d in needs if d not in available]
    by_dist: dict[str, list[tuple[str, str]]] = {}
    out = []
    for path, plugin, message in unknown.values():
        dist = KNOWN_PLUGINS.get(plugin) or (wanted[0] if len(wanted) == 1 else None)
        try:
            registry.get("evaluator", plugin)
        except NameClash:
            dist = None
        except UnknownName:
            pass
        if dist is None:
            hint = f"; the plan needs {', '.join(wanted)} (its '# needs:' line), not installed" if wanted else ""
            out.append((path, message + hint))
        else:
            by_dist.setdefault(dist, []).append((path, plugin))
    for dist, items in by_dist.items():
        names = ", ".join(repr(p) for _, p in items)
        noun = "evaluator" if len(items) == 1 else "evaluators"
        out.append((items[0][0], f"unknown {noun} {names}: {registry.missing_hint(dist, len(items) > 1)}"))
    return out


def _component(
    raw: dict[str, Any], key: str, kind: str, registry: Registry, problems: list[tuple[str, str]], common: list[Option]
) -> tuple[Any, dict[str, Any]]:
    """Validate a ``[dataset]``/``[space]`` table: its ``name`` and its options."""
    table = raw.get(key)
    if table is None:
        problems.append((key, f"missing [{key}] table with a name (known: {', '.join(registry.names(kind))})"))
        return None, {}
    if not isinstance(table, dict):
        problems.append((key, f"must be a table ([{key}])"))
        return None, {}
    name = table.get("name")
    if not isinstance(name, str):
        problems.append((f"{key}.name", f"missing {kind} name (known: {', '.join(registry.names(kind))})"))
        return None, {}
    try:
        cls = registry.get(kind, name)
    except UnknownName as exc:
        problems.append((f"{key}.name", str(exc)))
        return None, {}
    given = {k: v for k, v in table.items() if k != "name"}
    values, opt_problems = validate_options([*common, *cls.options], given, key)
    problems += opt_problems
    return name, values


def data_hint(provider: Any, options: dict[str, Any]) -> tuple[int, int, tuple[int, int, int]] | None:
    """``(training images, test images, (C, H, W))`` the run will have after the common options
    (``train_size``/``test_size`` subsets, ``resize``, ``grayscale_to_rgb``), from the provider's
    :meth:`~rcx.api.dataset.DatasetProvider.size_hint` without loading; None when unknown."""
    try:
        hint = provider.size_hint(options)
    except Exception:  # a third-party hint that fails: the run's own check still applies
        return None
    if hint is None:
        return None
    n_train, n_test, (c, h, w) = hint
    train = min(n_train, options.get("train_size") or n_train)
    test = min(n_test, options.get("test_size") or n_test)
    if options.get("grayscale_to_rgb") and c == 1:
        c = 3
    if options.get("resize"):
        h = w = options["resize"]
    return int(train), int(test), (int(c), int(h), int(w))


FIT_PROBE_LIMIT = 100_000
"""Largest space whose fitting architectures the plan check counts (with the space's fast
``is_valid``); beyond it the run finds out."""


def _fit_problems(space: Any, sampler: dict[str, Any], seed: Any, shape: tuple[int, int, int]) -> list[tuple[str, str]]:
    """A ``sampler`` problem when ``valid_only`` cannot give the architectures the sampler asks
    for at the input shape ``shape`` (known without loading), naming why the first one does not
    fit (e.g. ``channels = 10**12``: every output exceeds the input)."""
    from rcx.core.samplers import sample

    if not sampler.get("valid_only") or sampler.get("kind") not in ("random", "exhaustive"):
        return []
    if not callable(getattr(space, "is_valid", None)) or len(space) > FIT_PROBE_LIMIT:
        return []
    try:
        fits = sample(space, sampler["kind"], sampler.get("n"), seed if isinstance(seed, int) else 0, True, shape)
        if fits:
            return []
        message = f"no {space.name} architecture fits {'x'.join(map(str, shape))}"
    except ValueError as exc:
        message = str(exc)
    except Exception:  # a third-party space's is_valid that fails: the run reports it
        return []
    try:
        first = space.arch_at(0)
        info = space.describe(first, shape)
        why = "" if info.valid or not info.reason else f" ({first.id}: {info.reason})"
    except Exception:
        why = ""
    return [("sampler.valid_only", message + why)]


def _evaluators(
    raw: dict[str, Any], registry: Registry, problems: list[tuple[str, str]], dataset_options: dict[str, Any],
    unknown: dict[str, tuple[str, str, str]],
    hint: tuple[int, int, tuple[int, int, int]] | None = None,
) -> list[EvaluatorSpec]:
    """The ``[evaluators.NAME]`` tables as specs; problems appended. A table whose evaluator no
    plugin registered goes to ``unknown`` (instance -> (key path, evaluator name, message)) for
    :func:`_unknown_evaluators`, and later tables' references to it are not reported again.
    ``hint`` (see :func:`data_hint`): the dataset's split sizes known without loading, which the
    evaluators' plan checks then see as ``train_size``/``test_size`` (as the run's own check
    does after loading)."""
    tables = raw.get("evaluators")
    known = ", ".join(registry.names("evaluator"))
    if not isinstance(tables, dict) or not tables:
        problems.append(("evaluators", f"at least one [evaluators.NAME] table is needed (known: {known})"))
        return []
    sizes, sized = dataset_options, ""
    if hint is not None:
        sizes = {**dataset_options, "train_size": hint[0], "test_size": hint[1]}
        sized = f" (the dataset will have {hint[0]:,} training and {hint[1]:,} test images)"
    specs = []
    earlier: dict[str, Any] = {}  # instance -> evaluator class of the tables so far (grown, never rebuilt: linear)
    for instance, table in tables.items():
        where = f"evaluators.{instance}"
        if not isinstance(table, dict):
            problems.append((where, "must be a table"))
            continue
        if not INSTANCE_RE.match(instance):
            problems.append((where, "instance names are lower-case letters, digits and _ (they name result columns)"))
        plugin = table.get("evaluator", instance)
        if not isinstance(plugin, str):
            problems.append((f"{where}.evaluator", f"must be an evaluator name (known: {known}), got {plugin!r}"))
            continue
        try:
            cls = registry.get("evaluator", plugin)
        except UnknownName as exc:
            unknown[instance] = (f"{where}.evaluator" if "evaluator" in table else where, plugin, str(exc))
            continue
        given = {k: v for k, v in table.items() if k != "evaluator" and k not in STAGE_KEYS}
        values, opt_problems = validate_options(cls.options, given, where)
        problems += opt_problems
        if not opt_problems:
            problems += [(f"{where}.{p}", m + sized) for p, m in cls(values).check_plan(sizes)]
        stage = _stage(table, where, earlier, problems, set(unknown))
        unhashed = tuple(o.name for o in cls.options if o.neutral_default and values.get(o.name) == o.default)
        specs.append(EvaluatorSpec(instance, plugin, values, stage, unhashed))
        earlier[instance] = cls
    return specs


_BY_HELP = ('a stage needs by = "instance.metric" (an earlier evaluator table\'s metric), a baseline (params, flops, '
            'features) or a list of them, ranked by their rank average')


def _stage(table: dict[str, Any], where: str, earlier: dict[str, Any], problems: list[tuple[str, str]],
           unknown: set[str] = frozenset()) -> Stage | None:  # type: ignore[assignment]
    """The table's :class:`~rcx.core.stages.Stage` (None without stage keys); problems appended.

    ``by`` is one column or a list of them (a rank average, :mod:`rcx.core.scores`): each an
    earlier table's ``instance.metric`` or an architecture baseline, with its declared direction.
    A ``by`` that names an ``unknown`` evaluator table (already reported) is not reported again.
    """
    from rcx.core.scores import ARCH_BASELINES, parse_score

    given = {k: table[k] for k in STAGE_KEYS if k in table and k not in ONE_OR_LIST}
    if not given and "by" not in table:
        return None
    values, found = validate_options([o for o in STAGE_OPTIONS if o.name not in ONE_OR_LIST], given, where)
    if (values["top"] is None) == (values["top_fraction"] is None) and not found:
        found.append((where, "a stage needs either top = N or top_fraction = F (one of them) with by"))
    by = table.get("by")
    columns: tuple[str, ...] = ()
    if by is None:
        found.append((f"{where}.by", _BY_HELP))
    elif not (isinstance(by, str) or (isinstance(by, list) and all(isinstance(b, str) for b in by))):
        found.append((f"{where}.by", f"{_BY_HELP}, got {by!r}"))
    else:
        try:
            columns = parse_score(by)
        except ValueError as exc:
            found.append((f"{where}.by", str(exc)))
    directions = []
    if any(c.partition(".")[0] in unknown for c in columns):
        return None
    for column in columns:
        instance, dot, metric = column.partition(".")
        if not dot and column in ARCH_BASELINES:
            directions.append(ARCH_BASELINES[column].higher_is_better)
        elif not dot or instance not in earlier:
            tables = ", ".join(earlier) or "none"
            found.append((f"{where}.by", f"{column!r} must name an earlier evaluator table as instance.metric "
                                         f"(earlier tables: {tables}) or a baseline ({', '.join(ARCH_BASELINES)})"))
        else:
            declared = {m.name: m for m in earlier[instance].metrics}
            if metric not in declared:
                found.append((f"{where}.by", f"{instance} reports no metric {metric!r} "
                                             f"(declared: {', '.join(declared) or 'none'})"))
            else:
                directions.append(declared[metric].higher_is_better)
    problems += found
    if found:
        return None
    return Stage.rank_average(columns, directions, top=values["top"], top_fraction=values["top_fraction"])
