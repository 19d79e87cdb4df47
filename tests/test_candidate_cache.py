"""rcx.api.CandidateCache: one candidate's per-trial values, matched by key and by the run's
dataset and space objects (held weakly)."""

from __future__ import annotations

import gc

from rcx.api import CandidateCache


class Obj:
    """A stand-in for a run's dataset or space (weakly referenceable)."""


def test_values_match_only_the_same_key_and_the_same_run_objects():
    cache: CandidateCache[str] = CandidateCache()
    data, space = Obj(), Obj()
    cache.put(data, space, ("a", 1), 0, "t0")
    cache.put(data, space, ("a", 1), 1, "t1")
    assert cache.get(data, space, ("a", 1), 0) == "t0" and cache.get(data, space, ("a", 1), 1) == "t1"
    assert cache.get(data, space, ("a", 1), 2) is None
    assert cache.get(data, space, ("a", 2), 0) is None  # another key
    assert cache.get(Obj(), space, ("a", 1), 0) is None and cache.get(data, Obj(), ("a", 1), 0) is None
    cache.put(data, space, ("b", 1), 0, "b0")  # a new key drops the old candidate's values
    assert cache.get(data, space, ("a", 1), 1) is None and cache.get(data, space, ("b", 1), 0) == "b0"
    cache.clear()
    assert cache.get(data, space, ("b", 1), 0) is None


def test_a_run_that_ends_never_matches():
    cache: CandidateCache[int] = CandidateCache()
    data, space = Obj(), Obj()
    cache.put(data, space, ("k",), 0, 1)
    del data
    gc.collect()
    assert cache._owner is not None and cache._owner[0]() is None  # held weakly: the dataset is gone
    assert cache.get(Obj(), space, ("k",), 0) is None
