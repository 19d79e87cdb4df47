"""examples/funnel_search.toml, shrunk onto the synthetic dataset: an Optuna search, a stage by a
rank average, a short training, in one plan and one results file; stopped mid-search (batch > 1)
and resumed, it ends where an uninterrupted run ends."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from rcx.core import events as ev  # noqa: E402
from rcx.core.plan import parse_plan  # noqa: E402
from rcx.core.results import results_table  # noqa: E402
from rcx.core.runner import Runner  # noqa: E402
from rcx.core.store import Store  # noqa: E402
from rcx.progress import Reporter  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "funnel_search.toml"
SMALL = [  # (pattern, replacement): the example on the synthetic dataset, small enough for a test
    (r'\[dataset\]\nname = "imagefolder"\nroot = "/tmp/cifar10"',
     '[dataset]\nname = "synthetic"\nn_train = 96\nn_test = 32\nimage_size = 16'),
    (r"channels = 16\ncells = 5", "channels = 4\ncells = 1"),
    (r"trials = 2000", "trials = 12"), (r"batch = 8", "batch = 4"), (r"batch_size = 64", "batch_size = 32"),
    (r"top = 50", "top = 4"), (r"top = 5\n", "top = 2\n"), (r"epochs = 3", "epochs = 1"),
    (r"train_size = 10000", "train_size = 64\nval_size = 32\nbatch_size = 32"), (r'device = "auto"', 'device = "cpu"'),
]


def small_plan(registry, output: Path):
    text = EXAMPLE.read_text()
    for pattern, replacement in SMALL:
        text, n = re.subn(pattern, replacement, text)
        assert n >= 1, f"the example no longer has {pattern!r}"
    return parse_plan(text, registry, source=str(EXAMPLE), output=output)


def run(plan, registry, cancel_after: int | None = None, reporter=None):
    cancel = threading.Event()
    finished = []

    def on_event(e):
        if reporter is not None:
            reporter(e)
        if isinstance(e, ev.EvalFinished):
            finished.append(e)
            if cancel_after is not None and len(finished) >= cancel_after:
                cancel.set()

    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=on_event, cancel=cancel).run(store)
        table = results_table(store, run_id, registry)
        picks = {i: store.selection(run_id, i) for i in ("naswot", "short")}
        return store.trials(run_id), table, picks, store.run(run_id).state
    finally:
        store.close()


def test_the_example_validates(registry):
    plan = parse_plan(EXAMPLE.read_text(), registry, source=str(EXAMPLE))
    assert plan.sampler["kind"] == "optuna" and plan.sampler["trials"] == 2000
    stages = {e.instance: e.stage for e in plan.evaluators}
    assert stages["naswot"].by == "rankavg(synflow.score,jacov.score,flops)" and stages["short"].top == 5


@pytest.mark.slow  # about 12 s on a 2-core CPU; the fast tests of the same paths are in test_search.py
def test_search_then_stages_resume_mid_search_to_the_uninterrupted_result(registry, tmp_path):
    whole = small_plan(registry, tmp_path / "whole.db")
    stream = io.StringIO()
    trials, table, picks, state = run(whole, registry, reporter=Reporter(stream, live=False))
    assert state == "finished" and len([t for t in trials if not t.get("rejected")]) == 12
    n = len(table.rows)
    assert len(picks["naswot"]["selected"]) == 4 and len(picks["short"]["selected"]) == 2
    assert [r["short.status"] for r in table.funnel_order()[:2]] == ["done", "done"]
    out = stream.getvalue()
    ran = 2 * n + 4 + 2
    assert f"finished {ran} of {4 * n} evaluations, {4 * n - ran} skipped" in out
    assert f"stage 3 (short): 2 done, {n - 2} skipped" in out
    assert re.search(rf"\[ *\d+/{4 * n}, {n - 4} skipped\] ", out), "skipped work is counted apart, not as done"

    stopped = small_plan(registry, tmp_path / "stopped.db")
    first, _, _, state = run(stopped, registry, cancel_after=5)  # in the search's second batch
    assert state == "interrupted" and len(first) < len(trials)
    again, table_b, picks_b, state = run(stopped, registry)
    assert state == "finished"
    assert again == trials and picks_b == picks
    timeless = lambda t: [{k: v for k, v in r.items() if not k.endswith((".seconds", ".cpu_s"))} for r in t.rows]  # noqa: E731
    assert timeless(table_b) == timeless(table)
