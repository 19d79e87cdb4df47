"""A test-only evaluator plugin that stops a run at a chosen evaluation, for kill tests.

``blocker`` scores an architecture by its parameter count. When the environment variable
``RCX_TEST_BLOCK_AT`` is N, the N-th ``blocker`` evaluation of the process writes the
architecture id to the file named by ``RCX_TEST_BLOCK_MARKER`` (atomically) and then blocks
until its standard input closes: the test sees the marker, knows exactly which evaluations
have finished, and kills the process at that point. If the test process dies first, the pipe
closes and the blocked process exits instead of lingering. Without ``RCX_TEST_BLOCK_AT`` the
evaluator never blocks, so the same plan runs in-process for resume and reference runs.

Subprocesses load it through a fake distribution (see ``conftest.fake_dist``); in-process,
pass the module to ``load_registry`` as an extra plugin.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rcx.api.evaluator import EvalContext, EvalResult, Evaluator
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric

BLOCK_AT = "RCX_TEST_BLOCK_AT"
MARKER = "RCX_TEST_BLOCK_MARKER"


class Blocker(Evaluator):
    """Parameter count as the metric; blocks on the ``$RCX_TEST_BLOCK_AT``-th call (see module)."""

    name = "blocker"
    metrics = [Metric("params", "count", False, "the architecture's parameter count")]
    calls = 0  # blocker evaluations in this process

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        Blocker.calls += 1
        if os.environ.get(BLOCK_AT) == str(Blocker.calls):
            marker = Path(os.environ[MARKER])
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(ctx.arch.id)
            os.replace(tmp, marker)
            sys.stdin.buffer.read()  # returns only when the test process's end of the pipe closes
            os._exit(3)
        return EvalResult("done", {"params": float(ctx.info.params)})


@hookimpl
def rcx_register_evaluators(register) -> None:
    register(Blocker)
