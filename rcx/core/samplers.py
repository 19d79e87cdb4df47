"""Samplers: which architectures of a space a plan evaluates (the plan's ``[sampler]`` table).

``exhaustive`` walks the canonical indices 0, 1, 2, ... (``n`` caps the list at the first n).
``random`` draws ``n`` distinct indices with ``numpy.random.default_rng(derive_seed(seed,
"sampler", space.name))``; the list is in draw order, and a larger ``n`` extends a smaller one's
list (the draw stream does not depend on ``n``). With ``valid_only`` the architectures that do
not fit the input shape are skipped and do not count towards ``n``.
``optuna`` proposes candidates with Optuna (:mod:`rcx.core.search`; the runner asks and tells).
``ids`` evaluates the architectures a plan names, in the order given: ``ids = [...]`` in the
plan, or ``file = "top.csv"``, a CSV file with an ``arch`` column (such as ``rcx results DB
--format csv`` writes; a relative path is read from the plan's folder). The plan check reads
the file and parses every id, so an unknown or malformed id is a plan error with its line, and
the ids (not the file's name) are part of the plan's identity. ``n`` caps the list at its
first n. Every id is read through the space's ``canonical`` (:func:`canonical_arch`), so an id
listed twice, in any spelling the space accepts, is evaluated once; two ids of one space with
equal parameters that the space does not map to one id are refused.

The draw stream never materialises the whole space: it draws with rejection until half of the
indices have been seen, then permutes the rest, so ``random`` on 6 ** 11 = 362,797,056
architectures costs only what it returns.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rcx.api.arch import Arch, SearchSpace
from rcx.api.options import Option
from rcx.api.seeding import derive_seed

if TYPE_CHECKING:
    import numpy as np

KIND_OPTIONS: dict[str, list[Option]] = {
    "ids": [
        Option("ids", list, None, "ids: the architecture ids to evaluate, in order", item_type=str),
        Option("file", str, None, "ids: a CSV file with an arch column (relative to the plan's folder)"),
    ],
    "optuna": [
        Option("trials", int, None, "optuna: candidates to propose", min=1),
        Option("objective", list, None, 'optuna: one or two columns to optimise, e.g. ["naswot.score", "flops"]',
               item_type=str),
        Option("algorithm", str, None, "optuna: tpe (default) | nsga2 | random", choices=("tpe", "nsga2", "random")),
        Option("batch", int, None, "optuna: trials asked at once and evaluated in parallel (default 1)", min=1),
    ],
}
"""The sampler keys that only one kind reads, by kind: the validator refuses them with another
kind, and they stay out of a plan's identity while unset (plans written before they existed
keep their hash)."""

SAMPLER_OPTIONS: list[Option] = [
    Option("kind", str, "exhaustive", "exhaustive: indices 0, 1, 2, ...; random: n distinct seeded draws",
           choices=("exhaustive", "random", *KIND_OPTIONS)),
    Option("n", int, None, "architectures to draw (random, required) or a cap on the first n (exhaustive)", min=1),
    Option("valid_only", bool, False, "skip architectures that do not fit the input; they do not count towards n"),
    *(option for options in KIND_OPTIONS.values() for option in options),
]
"""The ``[sampler]`` table's keys: the one declaration the validator, the TUI, the docs and
``rcx schema`` read."""

KIND_OF_KEY: dict[str, str] = {o.name: kind for kind, options in KIND_OPTIONS.items() for o in options}
"""The kind that reads each of :data:`KIND_OPTIONS`' keys (``"file"`` -> ``"ids"``)."""

EXHAUSTIVE_LIMIT = 1_000_000
"""Largest space ``exhaustive`` lists without an ``n`` (the runner holds every candidate)."""

MAX_CHECKS = 2_000_000
"""With ``valid_only``, give up after checking this many architectures without finding ``n``."""

_BATCH = 4096  # indices per rejection draw; fixed so the stream does not depend on n


def random_order(size: int, rng: np.random.Generator) -> Iterator[int]:
    """Every index of ``range(size)`` once, in a seeded random order, produced lazily.

    Rejection draws (into a set) until ``size // 2`` distinct indices are out, then a
    permutation of the remaining ones; memory grows with what is consumed, not with ``size``.
    """
    import numpy as np

    seen: set[int] = set()
    half = size // 2
    while len(seen) < half:
        for i in rng.integers(0, size, _BATCH).tolist():
            if i not in seen:
                seen.add(i)
                yield i
                if len(seen) >= half:
                    break
    rest = np.ones(size, dtype=bool)
    rest[np.fromiter(seen, dtype=np.int64, count=len(seen))] = False
    yield from rng.permutation(np.flatnonzero(rest)).tolist()


def _fit_check(space: SearchSpace, in_shape: tuple[int, int, int]) -> Callable[[Arch], bool]:
    """The space's ``is_valid`` fast path where it has one, else ``describe(...).valid``."""
    fast = getattr(space, "is_valid", None)
    if callable(fast):
        return lambda arch: fast(arch, in_shape)
    return lambda arch: space.describe(arch, in_shape).valid


def _take(space: SearchSpace, indices: Iterable[int], n: int | None, fits: Callable[[Arch], bool] | None) -> list[Arch]:
    out: list[Arch] = []
    checked = 0
    for i in indices:
        if n is not None and len(out) >= n:
            break
        arch = space.arch_at(i)
        if fits is None:
            out.append(arch)
            continue
        checked += 1
        if fits(arch):
            out.append(arch)
        elif checked >= MAX_CHECKS:
            wanted = f"n = {n:,}" if n is not None else "the end of the space"
            raise ValueError(f"checked {checked:,} {space.name} architectures and only {len(out):,} fit the input; "
                             f"giving up before reaching {wanted}")
    return out


def read_ids_file(path: Path) -> list[tuple[int, str]]:
    """The ``arch`` column of a CSV file as ``(line number, id)`` pairs, blank cells skipped.

    Raises ``ValueError`` naming the file when it cannot be read or has no ``arch`` column.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path} is empty; it needs a header line with an arch column")
            names = [h.strip() for h in header]
            if "arch" not in names:
                raise ValueError(f"{path} has no arch column (columns: {', '.join(names) or 'none'}); "
                                 f"write one with rcx results DB --format csv")
            col = names.index("arch")
            return [(reader.line_num, row[col].strip()) for row in reader
                    if len(row) > col and row[col].strip()]
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None


def canonical_arch(space: SearchSpace, arch_id: str) -> Arch:
    """The architecture ``arch_id`` names, under its canonical id (``space.canonical``).

    Raises ``ValueError`` for an id the space refuses, and for a space whose ids do not
    round-trip (``from_id(canonical(x)).id`` or ``canonical(canonical(x))`` differs from
    ``canonical(x)``), naming the space: results are keyed by the canonical id."""
    read = getattr(space, "canonical", None)  # a space that does not subclass SearchSpace: the default
    canon = read if callable(read) else (lambda i: space.from_id(i).id)
    canonical = canon(arch_id)
    arch = space.from_id(canonical)
    again = canon(canonical)
    if arch.id != canonical or again != canonical:
        raise ValueError(f"the {space.name} space does not round-trip its ids: canonical({arch_id!r}) is "
                         f"{canonical!r}, "
                         f"but from_id of that gives {arch.id!r} and canonical {again!r}: fix the space's canonical() "
                         "or from_id() (rcx.testing.check_space finds this)")
    return arch


def _identity(arch: Arch) -> tuple | None:
    """``arch.params`` as a hashable key (None when empty or unhashable)."""
    try:
        return tuple(sorted(arch.params.items())) or None
    except TypeError:
        return None


def parse_ids(space: SearchSpace,
              ids: Iterable[tuple[int | None, str]]) -> tuple[list[str], list[tuple[int | None, str]]]:
    """Canonical ids of ``(where, id)`` pairs, first occurrence kept, and the problems.

    ``where`` is a line number or list position carried into each problem ``(where, message)``.
    Two ids the space does not canonicalise to one, whose architectures have equal ``params``,
    are a problem: one architecture would be evaluated twice under two ids.
    """
    out: list[str] = []
    seen: set[str] = set()
    by_params: dict[tuple, str] = {}
    problems: list[tuple[int | None, str]] = []
    for where, arch_id in ids:
        try:
            arch = canonical_arch(space, arch_id)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            said = str(exc)
            if arch_id not in said:
                said = f"{arch_id!r} is not a {space.name} architecture: {said}"
            problems.append((where, said))
            continue
        if arch.id in seen:
            continue
        key = _identity(arch)
        twin = by_params.get(key) if key is not None else None
        if twin is not None:
            problems.append((where, f"{arch_id!r} and {twin!r} are one {space.name} architecture ({arch.params}) under "
                                    f"two ids, which the space does not map to one canonical id: list it once (and "
                                    "tell the space's author: its canonical() should map both to one id)"))
            continue
        if key is not None:
            by_params[key] = arch.id
        seen.add(arch.id)
        out.append(arch.id)
    return out, problems


def sample(
    space: SearchSpace,
    kind: str = "exhaustive",
    n: int | None = None,
    seed: int = 0,
    valid_only: bool = False,
    in_shape: tuple[int, int, int] | None = None,
    ids: Sequence[str] | None = None,
) -> list[Arch]:
    """The architectures to evaluate, in evaluation order.

    ``seed`` is the plan seed; ``in_shape`` (C, H, W) is needed only with ``valid_only``;
    ``ids`` (canonical, checked by the plan) only with ``ids``.
    Raises ``ValueError`` when ``random`` asks for more architectures than the space (or its
    fitting part) holds, when ``random`` has no ``n``, and when ``exhaustive`` without ``n``
    would list more than :data:`EXHAUSTIVE_LIMIT` architectures.
    """
    import numpy as np

    size = len(space)
    fits = None
    if valid_only:
        if in_shape is None:
            raise ValueError("valid_only needs the input shape (C, H, W)")
        fits = _fit_check(space, tuple(int(v) for v in in_shape))  # type: ignore[arg-type]
    if kind == "exhaustive":
        if n is None and size > EXHAUSTIVE_LIMIT:
            raise ValueError(f"exhaustive sampling would list all {size:,} {space.name} architectures (at most "
                             f"{EXHAUSTIVE_LIMIT:,}); set sampler.n to cap it, or use kind = \"random\"")
        return _take(space, range(size), n, fits)
    if kind == "ids":
        if not ids:
            raise ValueError("the ids sampler needs ids = [...] or file = \"top.csv\"")
        archs = [space.from_id(i) for i in ids]
        return [a for a in archs if fits is None or fits(a)][:n]
    if kind != "random":
        raise ValueError(f"unknown sampler kind {kind!r} (known: exhaustive, random, ids)")
    if n is None:
        raise ValueError("the random sampler needs n, the number of architectures to draw")
    if n > size:
        raise ValueError(f"cannot draw {n:,} distinct architectures from {space.name}, which has {size:,}")
    rng = np.random.default_rng(derive_seed(seed, "sampler", space.name))
    out = _take(space, random_order(size, rng), n, fits)
    if len(out) < n:
        shape = "x".join(map(str, in_shape or ()))
        raise ValueError(f"only {len(out):,} of the {size:,} {space.name} architectures fit {shape}; "
                         f"cannot draw {n:,}")
    return out
