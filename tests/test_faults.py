"""Faults of issue 22 (and one of issue 23) that must not hang, flood or touch a file: huge
plans, damaged and empty results files, readers that leave the folder as they found it, and
plan messages that name the real cause at validate time."""

from __future__ import annotations

from rcx.core.plan import parse_plan
from rcx.plugins import Registry

from .test_bad_input import tiny_plan_text


def many_tables(n: int) -> str:
    """The tiny plan with ``n`` more ``ridge_rfm`` evaluator tables (``e0`` .. ``e{n-1}``)."""
    return tiny_plan_text() + "".join(f'\n[evaluators.e{i}]\nevaluator = "ridge_rfm"\n' for i in range(n))


# -- plan validation is linear in the number of evaluator tables ------------------------------------


def test_plan_validation_looks_each_evaluator_up_a_bounded_number_of_times(registry, monkeypatch):
    """Linear, counted without a clock: the registry is asked a few times per table, never once
    per pair of tables (3,000 tables took 1.3 s, 30,000 151 s before)."""
    calls = [0]
    get = Registry.get

    def counting(self, kind, name):
        calls[0] += kind == "evaluator"
        return get(self, kind, name)

    monkeypatch.setattr(Registry, "get", counting)
    n = 2000
    plan = parse_plan(many_tables(n), registry)
    assert len(plan.evaluators) == n + 1
    assert calls[0] <= 3 * (n + 1), f"{calls[0]:,} evaluator look-ups for {n + 1:,} tables"


def test_a_plan_of_100000_evaluator_tables_validates(registry):
    plan = parse_plan(many_tables(100_000), registry)
    assert len(plan.evaluators) == 100_001 and plan.evaluators[-1].instance == "e99999"
