"""A per-candidate cache that lets evaluator instances share work done for one candidate.

Evaluators whose options make them compute the same thing for a candidate (the same weights,
the same batch: e.g. ``ridge_rfm`` instances with ``init_seed = "shared"`` that differ only in
the readout, or zero-cost proxies read from one forward/backward computation) keep it here for
the next instance that asks with the same key. Only the last candidate is kept, one value per
trial: the runner evaluates one candidate's instances one after the other. The key must hold
everything the value depends on (candidate, seed, options); the run's dataset and space are
held weakly and compared by identity, so a run that ends, or another run's objects at a reused
address, never match. A value must not depend on which instance computed it, so results never
depend on evaluation order or on the other evaluators of a plan.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class CandidateCache(Generic[T]):
    """Per-trial values of the last candidate under one key, for one run (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: tuple[weakref.ref[Any], weakref.ref[Any]] | None = None
        self._key: tuple[Any, ...] | None = None
        self._trials: dict[int, T] = {}

    def _holds(self, data: object, space: object, key: tuple[Any, ...]) -> bool:
        """Whether the entry is for ``key`` on these very objects (call with the lock held)."""
        return (self._owner is not None and self._key == key
                and self._owner[0]() is data and self._owner[1]() is space)

    def get(self, data: object, space: object, key: tuple[Any, ...], trial: int) -> T | None:
        """The value of ``trial`` kept under ``key`` for this run's ``data`` and ``space``, or None."""
        with self._lock:
            return self._trials.get(trial) if self._holds(data, space, key) else None

    def put(self, data: object, space: object, key: tuple[Any, ...], trial: int, value: T) -> None:
        """Keep ``value`` for ``trial``; a new key (or run) drops what was kept before."""
        with self._lock:
            if not self._holds(data, space, key):
                self._owner, self._key, self._trials = (weakref.ref(data), weakref.ref(space)), key, {}
            self._trials[trial] = value

    def clear(self) -> None:
        with self._lock:
            self._owner, self._key, self._trials = None, None, {}
