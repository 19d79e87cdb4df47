"""Hand-built results files with exact values, for the analysis tests (real SQLite, Store API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rcx.core.store import Store


def hand_store(path: Path, rows: list[dict[str, Any]], evaluators: dict[str, str] | None = None) -> Path:
    """Write one run whose candidates are ``rows``.

    Each row: ``arch``, optional ``depth``, ``params``, ``flops``, ``features``, and per
    evaluator instance either a value (status ``done``, metric ``val_acc``), a
    ``(status, value or None)`` pair, or None (no evaluation row). ``evaluators`` maps instance
    names to plugin names (default: ``proxy`` and ``truth``, both ``ridge_rfm``, whose
    ``val_acc`` is declared higher-is-better).
    """
    evaluators = evaluators or {"proxy": "ridge_rfm", "truth": "ridge_rfm"}
    store = Store.open(path)
    try:
        plan = {"name": "hand", "evaluators": {inst: {"evaluator": plug} for inst, plug in evaluators.items()}}
        run = store.create_run(name="hand", plan_text="# hand-built", plan=plan, plan_hash="hand", versions={},
                               device="cpu", device_name="cpu", dataset={})
        store.add_candidates(run, [
            (i, r["arch"], {"depth": r.get("depth", 3)},
             {"params": r.get("params", 100 + i), "flops": r.get("flops", 1000 + 7 * i),
              "features": r.get("features", 10 * i)},
             True, "")
            for i, r in enumerate(rows)
        ])
        for r in rows:
            for inst in evaluators:
                v = r.get(inst)
                if v is None:
                    continue
                status, value = v if isinstance(v, tuple) else ("done", v)
                store.finish_evaluation(run, r["arch"], inst, status,
                                        metrics={} if value is None else {"val_acc": value})
        store.set_run_state(run, "done")
    finally:
        store.close()
    return path


def nb201_store(path: Path, ids: list[str], space: str = "nb201") -> Path:
    """One ``nb201`` (or ``space``) run (its plan names the space) of the ids ``ids``: params
    10, 11, ...; a ``proxy`` (``ridge_rfm``) evaluation done with val_acc 0.0, 0.1, ..."""
    store = Store.open(path)
    try:
        plan = {"name": "hand", "space": {"name": space}, "evaluators": {"proxy": {"evaluator": "ridge_rfm"}}}
        run = store.create_run(name="hand", plan_text="# hand", plan=plan, plan_hash="h", versions={}, device="cpu",
                               device_name="cpu", dataset={})
        store.add_candidates(run, [(i, a, {}, {"params": 10 + i, "flops": 100 + i}, True, "")
                                   for i, a in enumerate(ids)])
        for i, a in enumerate(ids):
            store.finish_evaluation(run, a, "proxy", "done", metrics={"val_acc": 0.1 * i})
        store.set_run_state(run, "done")
    finally:
        store.close()
    return path
