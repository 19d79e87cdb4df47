"""Plan validation time against the number of evaluator tables (issue 22): linear, not quadratic.

    python benchmarks/plan_tables.py            # --tables 3000,10000,30000,100000

Each plan is the quickstart plus N ``[evaluators.eI]`` tables of ``ridge_rfm`` with defaults;
one :func:`~rcx.core.plan.parse_plan` per size (TOML parse included). Prints seconds and
microseconds per table: a linear validation keeps the per-table figure flat as N grows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rcx.core.plan import parse_plan
from rcx.plugins import load_registry

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.toml"


def plan_text(n: int) -> str:
    """The quickstart plan with ``n`` more evaluator tables."""
    return QUICKSTART.read_text() + "".join(f'\n[evaluators.e{i}]\nevaluator = "ridge_rfm"\n' for i in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="3000,10000,30000,100000", help="comma-separated table counts")
    args = parser.parse_args()
    registry = load_registry()
    print("| tables | seconds | us per table |\n|---|---|---|")
    for n in (int(x) for x in args.tables.split(",")):
        text = plan_text(n)
        t0 = time.perf_counter()
        plan = parse_plan(text, registry)
        seconds = time.perf_counter() - t0
        assert len(plan.evaluators) == n + 1
        print(f"| {n:,} | {seconds:.2f} | {seconds / n * 1e6:.0f} |")


if __name__ == "__main__":
    main()
