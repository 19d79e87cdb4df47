"""Samplers: which architectures of a space a plan evaluates (the plan's ``[sampler]`` table).

``exhaustive`` walks the canonical indices 0, 1, 2, ... (``n`` caps the list at the first n).
``random`` draws ``n`` distinct indices with ``numpy.random.default_rng(derive_seed(seed,
"sampler", space.name))``; the list is in draw order, and a larger ``n`` extends a smaller one's
list (the draw stream does not depend on ``n``). With ``valid_only`` the architectures that do
not fit the input shape are skipped and do not count towards ``n``.

The draw stream never materialises the whole space: it draws with rejection until half of the
indices have been seen, then permutes the rest, so ``random`` on 6 ** 11 = 362,797,056
architectures costs only what it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from rcx.api.arch import Arch, SearchSpace
from rcx.api.options import Option
from rcx.api.seeding import derive_seed

if TYPE_CHECKING:
    import numpy as np

SAMPLER_OPTIONS: list[Option] = [
    Option("kind", str, "exhaustive", "exhaustive: indices 0, 1, 2, ...; random: n distinct seeded draws",
           choices=("exhaustive", "random")),
    Option("n", int, None, "architectures to draw (random, required) or a cap on the first n (exhaustive)", min=1),
    Option("valid_only", bool, False, "skip architectures that do not fit the input; they do not count towards n"),
]

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


def sample(
    space: SearchSpace,
    kind: str = "exhaustive",
    n: int | None = None,
    seed: int = 0,
    valid_only: bool = False,
    in_shape: tuple[int, int, int] | None = None,
) -> list[Arch]:
    """The architectures to evaluate, in evaluation order.

    ``seed`` is the plan seed; ``in_shape`` (C, H, W) is needed only with ``valid_only``.
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
    if kind != "random":
        raise ValueError(f"unknown sampler kind {kind!r} (known: exhaustive, random)")
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
