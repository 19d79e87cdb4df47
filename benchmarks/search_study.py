"""From candidates to a pick, judged against NAS-Bench-201's truth (SCIENCE.md, issue 13 part 4).

For each of ``--seeds`` seeds, the NAS-Bench-201 CIFAR-10 test accuracy of the architecture that
each method picks:

- ``random``: 100 random cells, the best by the proxy (seed 002's "among 100" protocol);
- ``optimal``: the truly best of the same 100 (the ceiling of any proxy on that sample);
- ``tpe``: Optuna TPE proposing 100 cells, the best by the proxy (``kind = "optuna"``);
- ``funnel``: the proxy on 1,000 random cells, then a second proxy on the proxy's top 10, the
  best by the second proxy (the ``top``/``by`` stages of a plan).

``random``, ``optimal`` and ``funnel`` draw their cells from one seeded pool scored once (every
seed draws a different subset, as ``rcx analyze select`` does); ``tpe`` runs a real search per
seed. Wall time is the proxy's measured seconds for the cells each pick needed (the search's
whole run for ``tpe``). Every step is an rcx plan, so the script resumes where it stopped.

    unzip -q ../shared/data/cifar10-jpeg.zip -d /tmp/cifar10
    python benchmarks/search_study.py --out runs/search_study [--seeds 20 --pool 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DATA = """
[dataset]
name = "imagefolder"
root = "{root}"

[space]
name = "nb201"
channels = 16
cells = 5
"""


def plan_text(name: str, seed: int, output: Path, sampler: str, evaluators: str, root: str) -> str:
    return (f'name = "{name}"\nseed = {seed}\ndevice = "cpu"\noutput = "{output}"\n' + DATA.format(root=root)
            + f"\n[sampler]\n{sampler}\n\n{evaluators}\n")


def run_plan(text: str, registry) -> list[dict]:
    """Run (or resume) a plan given as text; returns its evaluations."""
    from rcx.core.plan import parse_plan
    from rcx.core.runner import Runner
    from rcx.core.store import Store

    plan = parse_plan(text, registry, source="search_study")
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, threads=1).run(store)
        return store.evaluations(run_id)
    finally:
        store.close()


def scores(evaluations: list[dict], instance: str, metric: str = "score") -> dict[str, tuple[float, float]]:
    """``{arch: (value, seconds)}`` of the done evaluations of ``instance``."""
    return {e["arch"]: (float(e["metrics"][metric]), float(e["seconds"] or 0.0)) for e in evaluations
            if e["evaluator"] == instance and e["status"] == "done" and e["metrics"].get(metric) is not None
            and np.isfinite(e["metrics"][metric])}


def summary(rows: list[tuple[float, float]]) -> dict[str, float]:
    truths = [t for t, _ in rows]
    return {"n": len(rows), "mean": statistics.fmean(truths), "std": statistics.pstdev(truths),
            "seconds": statistics.fmean(s for _, s in rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/search_study"))
    ap.add_argument("--root", default="/tmp/cifar10", help="the unzipped CIFAR-10 JPEG copy")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--pool", type=int, default=2000, help="random cells scored once for random/funnel draws")
    ap.add_argument("--budget", type=int, default=100, help="cells per pick for random and tpe")
    ap.add_argument("--funnel", type=int, default=1000, help="cells the funnel's first proxy scores")
    ap.add_argument("--top", type=int, default=10, help="cells the funnel's second proxy scores")
    ap.add_argument("--proxy", default="synflow", help="first proxy (an evaluator name)")
    ap.add_argument("--second", default="naswot", help="the funnel's second proxy")
    ap.add_argument("--skip-tpe", action="store_true")
    args = ap.parse_args(argv)

    from rcx.plugins import load_registry
    from rcx.truth.nb201 import NB201Truth

    registry = load_registry()
    truth = {a: v["cifar10"] for a, v in NB201Truth().load().items()}
    proxy_table = f"[evaluators.{args.proxy}]"
    t0 = time.perf_counter()
    pool = scores(run_plan(plan_text("search-pool", 0, args.out / "pool.db", f'kind = "random"\nn = {args.pool}',
                                     proxy_table, args.root), registry), args.proxy)
    print(f"pool: {len(pool)} scored cells ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    ids = sorted(pool)
    results: dict[str, list[tuple[float, float]]] = {"random": [], "optimal": [], "funnel": [], "tpe": []}

    tops = {}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        sample = [ids[i] for i in rng.choice(len(ids), args.budget, replace=False)]
        best = max(sample, key=lambda a: (pool[a][0], a))
        seconds = sum(pool[a][1] for a in sample)
        results["random"].append((truth[best], seconds))
        results["optimal"].append((max(truth[a] for a in sample), seconds))
        wide = [ids[i] for i in rng.choice(len(ids), min(args.funnel, len(ids)), replace=False)]
        tops[seed] = sorted(wide, key=lambda a: (-pool[a][0], a))[: args.top], sum(pool[a][1] for a in wide)

    chosen = sorted({a for top, _ in tops.values() for a in top})
    second = scores(run_plan(plan_text("search-funnel", 0, args.out / "funnel.db",
                                       f"kind = \"ids\"\nids = {json.dumps(chosen)}", f"[evaluators.{args.second}]",
                                       args.root), registry), args.second)
    for top, seconds in tops.values():
        ranked = [a for a in top if a in second]
        pick = max(ranked, key=lambda a: (second[a][0], a))
        results["funnel"].append((truth[pick], seconds + sum(second[a][1] for a in top if a in second)))

    if not args.skip_tpe:
        for seed in range(args.seeds):
            start = time.perf_counter()
            evals = run_plan(plan_text(f"search-tpe-{seed}", seed, args.out / f"tpe_{seed}.db",
                                       f'kind = "optuna"\ntrials = {args.budget}\nobjective = ["{args.proxy}.score"]\n'
                                       'algorithm = "tpe"', proxy_table, args.root), registry)
            found = scores(evals, args.proxy)
            pick = max(found, key=lambda a: (found[a][0], a))
            wall = sum(s for _, s in found.values())
            results["tpe"].append((truth[pick], wall))
            print(f"tpe seed {seed}: {truth[pick]:.2f} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    table = {k: summary(v) for k, v in results.items() if v}
    print(f"| method ({args.proxy}; funnel: {args.second} on its top {args.top}) | picks | CIFAR-10 test of the pick "
          "(mean +- std) | proxy seconds per pick |")
    print("|---|---|---|---|")
    names = {"random": f"random {args.budget} + best {args.proxy}", "optimal": f"optimal among {args.budget}",
             "tpe": f"Optuna TPE, {args.budget} trials on {args.proxy}",
             "funnel": f"funnel: {args.proxy} on {args.funnel} -> {args.second} on top {args.top}"}
    for key, row in table.items():
        print(f"| {names[key]} | {row['n']} | {row['mean']:.2f} +- {row['std']:.2f} | {row['seconds']:.1f} |")
    (args.out / "search_study.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                             "results": results, "table": table}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
