"""The ``then`` side of ``benchmarks/all_scores.py --then COMMIT``: rcx as it was at COMMIT, timed
in a process of its own.

``all_scores.py`` exports COMMIT's tree (``git archive``) into a temporary folder and starts this
script with that tree first on ``sys.path`` (rcx and both plugins), so every evaluator runs the
code of COMMIT, unpatched: the reference the in-process ``today`` setting reproduces with options
and patches. The protocol, one JSON line each way:

- argv: the plan file (all_scores.py's plan, the same cells), the torch thread count (0: torch's
  default);
- stdin: a candidate index per line (0 is the warm-up cell); stdout: ``{"instance": CPU
  seconds, ...}`` for that cell, then ``{"wall": seconds}`` merged in; a ``{"ready": ...}`` line
  first, once the evaluators are prepared.

Only the API that both sides share is used (``rcx.core.plan.load_plan``, ``Runner.setup``,
``RunContext``, ``EvalContext``, ``derive_seed``), so the script runs against rcx before and
after issue 21.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch


def _clear_caches() -> None:
    """Empty every per-candidate cache COMMIT's evaluators keep, if it has them, so no cell
    reuses what the warm-up or an earlier cell computed (all_scores.py does the same in process)."""
    for module, name in (("rcx.evaluators.ridge_rfm", "SHARED_FEATURES"),
                         ("rcx_zerocost.evaluators", "SHARED_GRADIENTS")):
        cache = getattr(sys.modules.get(module), name, None)
        if cache is not None:
            cache.clear()


def main() -> int:
    from rcx.api.evaluator import EvalContext, RunContext
    from rcx.api.seeding import derive_seed
    from rcx.core.plan import load_plan
    from rcx.core.runner import Runner
    from rcx.plugins import load_registry

    plan_path, threads = Path(sys.argv[1]), int(sys.argv[2])
    if threads:
        torch.set_num_threads(threads)
    registry = load_registry()
    plan = load_plan(plan_path, registry)
    runner = Runner(plan, registry)
    runner.setup()
    run_ctx = RunContext(runner.data, runner.space, runner.device, plan.seed)
    evaluators = {}
    for spec in plan.evaluators:
        ev = registry.get("evaluator", spec.plugin)(spec.options)
        ev.prepare(run_ctx)
        evaluators[spec.instance] = ev
    import rcx

    print(json.dumps({"ready": str(Path(rcx.__file__).parent)}), flush=True)
    for line in sys.stdin:
        cand = runner.candidates[int(line)]
        _clear_caches()
        secs: dict[str, float] = {}
        w0 = time.perf_counter()
        for inst, ev in evaluators.items():
            ctx = EvalContext(cand.arch, cand.info, derive_seed(plan.seed, inst, cand.arch.id), runner.device)
            c0 = time.process_time()
            ev.evaluate(ctx)
            if runner.device.type == "cuda":
                torch.cuda.synchronize(runner.device)
            secs[inst] = time.process_time() - c0
        print(json.dumps(secs | {"wall": time.perf_counter() - w0, "arch": cand.arch.id}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
