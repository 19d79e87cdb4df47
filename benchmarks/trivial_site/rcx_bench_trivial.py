"""An evaluator that does no work, for measuring what an executor adds per evaluation.

``trivial`` returns the architecture's parameter count (already computed when the candidate
was described), so an evaluation costs microseconds and a run's time is the runner's and the
executor's own: submission, transport, recording in the results file.

It is registered through the tiny distribution beside this file
(``rcx_bench_trivial-1.0.dist-info``), which ``importlib.metadata`` finds once this folder is on
``sys.path``: put it on ``PYTHONPATH`` and every process of a run (Ray workers included, which
inherit the driver's environment) loads it like an installed plugin.
"""

from __future__ import annotations

from rcx.api.evaluator import EvalContext, EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric


class Trivial(Evaluator):
    """The parameter count as the metric; no tensor work."""

    name = "trivial"
    help = "No work: the architecture's parameter count (benchmarks/ray_overhead.py)."
    metrics = [Metric("params", "count", False, "the architecture's parameter count")]

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        return EvalResult("done", {"params": float(ctx.info.params)})


@hookimpl
def rcx_register_evaluators(register) -> None:
    register(Trivial)
