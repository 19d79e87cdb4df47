"""trained / lc_frozen / partial_filters through the runner: metrics, curves, statuses, store."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import torch

from rcx.api.evaluator import EvalContext, RunContext
from rcx.core import events as ev
from rcx.core.plan import PlanError, load_plan, parse_plan
from rcx.core.runner import Runner
from rcx.core.store import SCHEMA_VERSION, Store

from .conftest import ROOT
from .test_data import cifar_subset  # noqa: F401  (fixture: a tiny unzipped CIFAR-10 tree)

pytestmark = pytest.mark.usefixtures("torch_one_thread")

PLAN = """
name = "train"
seed = 0
device = "cpu"
output = "{output}"

[dataset]
name = "{dataset}"
{dataset_extra}

[space]
{space}

[sampler]
kind = "{kind}"
n = {n}

{evaluators}
"""

SYNTH = 'n_train = 96\nn_test = 48\nimage_size = 16'
DEPTHMULT = 'name = "depthmult"\ndepth = 2\nbase_width = 4\nkernels = [3]\nmults = [1.0, 1.5]'
FAST = "epochs = 2\nbatch_size = 32\neval_batch_size = 48\n"


def write_plan(tmp_path, evaluators: str, space: str = DEPTHMULT, n: int = 2, kind: str = "random",
               dataset: str = "synthetic", dataset_extra: str = SYNTH, name: str = "plan.toml"):
    path = tmp_path / name
    path.write_text(PLAN.format(output=tmp_path / "r.db", dataset=dataset, dataset_extra=dataset_extra, space=space,
                                kind=kind, n=n, evaluators=evaluators))
    return path


def run(path, registry, cancel_on=None):
    plan = load_plan(path, registry)
    events: list = []
    cancel = threading.Event()

    def on_event(e):
        events.append(e)
        if cancel_on is not None and cancel_on(e):
            cancel.set()

    store = Store.open(plan.output)
    try:
        run_id = Runner(plan, registry, on_event=on_event, cancel=cancel).run(store)
        return store, run_id, events
    except BaseException:
        store.close()
        raise


def test_all_three_evaluators_record_metrics_and_curves(tmp_path, registry):
    evals = (f"[evaluators.trained]\n{FAST}\n[evaluators.lc_frozen]\n{FAST}expansion = 2\n"
             f"[evaluators.partial_filters]\n{FAST}fraction = 0.5\n")
    store, run_id, events = run(write_plan(tmp_path, evals), registry)
    try:
        rows = store.evaluations(run_id)
        assert len(rows) == 6 and {r["status"] for r in rows} == {"done"}
        for r in rows:
            m = r["metrics"]
            assert 0 <= m["val_acc"] <= 1 and m["epochs"] == 2 and m["seconds"] > 0 and m["train_loss"] > 0
            if r["evaluator"] == "lc_frozen":
                assert m["frozen_params"] > 0 and m["learnable_params"] > 0 and m["lc_blocks"] == 2
                assert 0 < m["fve_first"] <= 1
            if r["evaluator"] == "partial_filters":
                assert 0 < m["learned_fraction"] < 1 and m["partial_convs"] == 2
            curve = store.curve(run_id, r["arch"], r["evaluator"])
            assert [p["epoch"] for p in curve] == [1.0, 2.0] and [p["step"] for p in curve] == [3, 6]
            assert curve[-1]["val_acc"] == m["val_acc"] and curve[-1]["train_loss"] == m["train_loss"]
        points = [e for e in events if isinstance(e, ev.CurvePoint)]
        assert len(points) == 12
        assert store.curves(run_id, "trained") == {
            (p.arch, p.evaluator): [{"step": q.step, "epoch": q.epoch, **q.metrics} for q in points
                                    if (q.arch, q.evaluator) == (p.arch, p.evaluator)]
            for p in points if p.evaluator == "trained"}
    finally:
        store.close()


def test_lc_frozen_on_resnet_lc_keeps_the_architectures_expansion(tmp_path, registry):
    space = 'name = "resnet_lc"\ndepth = [8]\nwidth = [4]\nexpansion = [0, 2]'
    evals = (f"[evaluators.frozen]\nevaluator = \"lc_frozen\"\n{FAST}expansion = 8\nop = \"bn_relu\"\n"
             f"[evaluators.learnable]\nevaluator = \"lc_frozen\"\nmode = \"learnable\"\n{FAST}")
    store, run_id, _ = run(write_plan(tmp_path, evals, space=space, kind="exhaustive"), registry)
    try:
        m = {(r["arch"], r["evaluator"]): r["metrics"] for r in store.evaluations(run_id)}
        assert m["resnet_lc-8-4-k3", "frozen"]["lc_blocks"] == 0  # E = 0: plain ResNet, frozen only
        assert m["resnet_lc-8-4x2-k3", "frozen"]["lc_blocks"] == 7  # its own E, not the option's 8
        assert m["resnet_lc-8-4x2-k3", "learnable"]["frozen_params"] == 0
        frozen = m["resnet_lc-8-4x2-k3", "frozen"]
        # 7 spatial convs of 4/8/16 channels x E=2: 3->8, 4->8, 4->8, 4->16, 8->16, 8->32, 16->32 filters
        assert frozen["frozen_params"] == 9 * (3 * 8 + 4 * 8 + 4 * 8 + 4 * 16 + 8 * 16 + 8 * 32 + 16 * 32)
        total = m["resnet_lc-8-4x2-k3", "learnable"]["learnable_params"]
        assert frozen["learnable_params"] + frozen["frozen_params"] > total  # the bn_relu ops add BN parameters
    finally:
        store.close()


def test_result_does_not_depend_on_evaluation_order(registry, tmp_path):
    plan = load_plan(write_plan(tmp_path, f"[evaluators.trained]\n{FAST}"), registry)
    runner = Runner(plan, registry)
    runner.setup()
    (_, evaluator), = runner.evaluators
    a, b = runner.candidates[0], runner.candidates[1]

    def score(cand):
        ctx = EvalContext(arch=cand.arch, info=cand.info, seed=12345, device=torch.device("cpu"))
        return evaluator.evaluate(ctx).metrics["val_acc"]

    evaluator.prepare(RunContext(runner.data, runner.space, torch.device("cpu"), plan.seed))
    alone = score(a)
    score(b)
    assert score(a) == alone


def test_non_finite_loss_ends_as_diverged_with_the_step(tmp_path, registry):
    store, run_id, events = run(write_plan(tmp_path, f"[evaluators.trained]\n{FAST}lr = 1e12\nmin_lr = 1e12\n", n=1),
                                registry)
    try:
        (row,) = store.evaluations(run_id)
        assert row["status"] == "diverged"
        assert 1 <= row["metrics"]["diverged_step"] <= 6 and "val_acc" not in row["metrics"]
        assert "non-finite training loss at step" in row["extra"]["diverged"]
        assert any(isinstance(e, ev.EvalFinished) and e.status == "diverged" for e in events)
    finally:
        store.close()


def test_out_of_memory_is_a_failed_evaluation_with_a_clear_message(tmp_path, registry, monkeypatch):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("rcx.nn.train.train", oom)  # the evaluator imports it when it trains
    store, run_id, _ = run(write_plan(tmp_path, f"[evaluators.trained]\n{FAST}", n=1), registry)
    try:
        (row,) = store.evaluations(run_id)
        assert row["status"] == "failed"
        assert "out of memory" in row["error"] and "batch_size" in row["error"]
    finally:
        store.close()


def test_cancelled_evaluation_restarts_from_scratch_without_stale_points(tmp_path, registry):
    path = write_plan(tmp_path, f"[evaluators.trained]\n{FAST}", n=1)
    store, run_id, events = run(path, registry, cancel_on=lambda e: isinstance(e, ev.CurvePoint))
    try:
        assert store.evaluations(run_id) == [] and store.curves(run_id) == {}
        # A crash leaves the row `running` with its points: simulate it, then resume.
        store.start_evaluation(run_id, "ghost", "trained", 1, "cpu")
        store.add_curve_point(run_id, "ghost", "trained", 3, 1.0, {"train_loss": 9.0})
    finally:
        store.close()
    store, run_id2, _ = run(path, registry)
    try:
        assert run_id2 == run_id
        (row,) = store.evaluations(run_id)
        assert row["status"] == "done"
        assert list(store.curves(run_id)) == [(row["arch"], "trained")]
        assert len(store.curve(run_id, row["arch"], "trained")) == 2
    finally:
        store.close()


def test_start_evaluation_clears_points_of_an_earlier_attempt(tmp_path):
    store = Store.open(tmp_path / "s.db")
    try:
        run_id = store.create_run(name="x", plan_text="", plan={}, plan_hash="h", versions={}, device="cpu",
                                  device_name="cpu", dataset={})
        store.start_evaluation(run_id, "a", "trained", 1, "cpu")
        store.add_curve_point(run_id, "a", "trained", 10, 1.0, {"val_acc": 0.5})
        store.add_curve_point(run_id, "a", "other", 10, 1.0, {"val_acc": 0.5})
        store.finish_evaluation(run_id, "a", "trained", "failed", error="boom")
        assert len(store.curve(run_id, "a", "trained")) == 1  # a failed evaluation keeps its curve
        store.start_evaluation(run_id, "a", "trained", 1, "cpu")  # --retry-failed
        assert store.curve(run_id, "a", "trained") == [] and len(store.curve(run_id, "a", "other")) == 1
    finally:
        store.close()


def test_schema_1_files_stay_readable_and_migrate(tmp_path):
    path = tmp_path / "old.db"
    store = Store.open(path)
    store.create_run(name="x", plan_text="", plan={}, plan_hash="h", versions={}, device="cpu", device_name="cpu",
                     dataset={})
    store.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE curves")
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    conn.close()
    ro = Store.open_readonly(path)
    try:
        assert ro.curve(1, "a", "b") == [] and ro.curves(1) == {}
    finally:
        ro.close()
    store = Store.open(path)
    try:
        version = store.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        assert int(version) == SCHEMA_VERSION == 3
        store.add_curve_point(1, "a", "b", 1, 0.5, {"train_loss": 1.0})
        assert store.curve(1, "a", "b") == [{"step": 1, "epoch": 0.5, "train_loss": 1.0}]
    finally:
        store.close()


def test_preset_and_option_checks(registry, tmp_path):
    plan = load_plan(write_plan(tmp_path, '[evaluators.trained]\npreset = "seed000"\n'), registry)
    runner = Runner(plan, registry)
    assert runner.registry.get("evaluator", "trained")(plan.evaluators[0].options).config["lr"] == 0.1
    text = write_plan(tmp_path, '[evaluators.trained]\npreset = "seed000"\nlr = 0.05\nmin_lr = 0.5\n').read_text()
    with pytest.raises(PlanError) as err:
        parse_plan(text, registry)
    message = str(err.value)
    assert "preset 'seed000' sets lr = 0.1" in message and "evaluators.trained.min_lr" in message
    with pytest.raises(PlanError, match="Nesterov needs momentum"):
        parse_plan(write_plan(tmp_path, "[evaluators.lc_frozen]\nmomentum = 0.0\n").read_text(), registry)
    with pytest.raises(PlanError, match="exceeds dataset.train_size"):
        parse_plan(write_plan(tmp_path, "[evaluators.trained]\ntrain_size = 100\n",
                              dataset_extra=SYNTH + "\ntrain_size = 50").read_text(), registry)


@pytest.mark.parametrize("name, evaluators", [
    ("seed000_depth_study.toml", {"ridge_rfm", "trained"}),
    ("seed003_lc_expansion.toml", {"frozen", "learnable"}),
    ("seed004_partial.toml", {"f001", "f01", "f025", "f05", "f1", "f01_zero"}),
])
def test_examples_validate(name, evaluators, registry):
    plan = parse_plan((ROOT / "examples" / name).read_text(), registry, source=name)
    assert {e.instance for e in plan.evaluators} == evaluators


@pytest.mark.data
def test_trained_on_a_tiny_cifar_imagefolder_end_to_end(cifar_subset, tmp_path, registry):  # noqa: F811
    path = write_plan(tmp_path, f"[evaluators.trained]\n{FAST}", n=1, dataset="imagefolder",
                      dataset_extra=f'root = "{cifar_subset}"')
    store, run_id, _ = run(path, registry)
    try:
        (row,) = store.evaluations(run_id)
        assert row["status"] == "done" and row["extra"]["train_images"] == 100 and row["extra"]["val_images"] == 100
        assert len(store.curve(run_id, row["arch"], "trained")) == 2
    finally:
        store.close()


def test_partial_filters_fraction_zero_trains_only_batchnorm_and_head(tmp_path, registry):
    """The left end of seed 004's curve: no conv filter learns (issue 20)."""
    from torch import nn

    from rcx.evaluators.partial_filters import PartialFilters

    store, run_id, _ = run(write_plan(tmp_path, f"[evaluators.p0]\nevaluator = \"partial_filters\"\n{FAST}"
                                                "fraction = 0.0\n", n=1), registry)
    try:
        (row,) = store.evaluations(run_id)
    finally:
        store.close()
    m = row["metrics"]
    assert row["status"] == "done" and m["partial_convs"] == 2
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten())
    ev = PartialFilters({"fraction": 0.0})

    class Model(nn.Module):  # the Classifier's two parts
        def __init__(self):
            super().__init__()
            self.features, self.head = model, nn.Linear(4, 2)

    ctx = EvalContext(arch=None, info=None, seed=0, device=torch.device("cpu"))  # setup reads the seed only
    out = ev.setup(Model(), ctx)
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad
    assert out["learned_params"] == 4 + 4 + 4 * 2 + 2
    assert m["learned_params"] < m["learned_params"] / m["learned_fraction"]
    for bad, message in (('rest = "zero"', "zeroes every conv filter"),
                         ("bn_learnable = false\nclassifier_learnable = false", "nothing to train")):
        with pytest.raises(PlanError, match=message):
            parse_plan(write_plan(tmp_path, f"[evaluators.partial_filters]\nfraction = 0.0\n{bad}\n").read_text(),
                       registry)


THREE = (f"[evaluators.trained]\n{FAST}{{layout}}\n[evaluators.lc_frozen]\n{FAST}expansion = 2\n{{layout}}\n"
         f"[evaluators.partial_filters]\n{FAST}fraction = 0.5\n{{layout}}\n")


def test_layout_at_auto_keeps_the_plan_identity(registry, tmp_path):
    """layout was added while studies ran: a plan that leaves it unset (or sets "auto") hashes as
    before it existed (the hash below was computed before the option), so `rcx run` resumes its
    results file; "contiguous" and "channels_last" are other plans."""
    def plan(layout: str):
        return parse_plan(write_plan(tmp_path, THREE.format(layout=layout)).read_text(), registry)

    plain = plan("")
    assert plain.hash == "e6deb966f110a24a"
    assert all("layout" not in e for e in plain.normalized()["evaluators"].values())
    assert plan('layout = "auto"').hash == plain.hash
    others = {plan(f'layout = "{v}"').hash for v in ("contiguous", "channels_last")}
    assert len(others) == 2 and plain.hash not in others


def test_layout_option_validates(registry, tmp_path):
    with pytest.raises(PlanError, match="evaluators.trained.layout") as err:
        parse_plan(write_plan(tmp_path, '[evaluators.trained]\nlayout = "nhwc"\n').read_text(), registry)
    assert "channels_last" in str(err.value)


@pytest.mark.parametrize("layout, expected", [("", "contiguous"), ('layout = "contiguous"', "contiguous"),
                                              ('layout = "channels_last"', "channels_last")])
def test_layout_sets_the_memory_format_on_a_cpu(layout, expected, registry, tmp_path, monkeypatch):
    """On a CPU "auto" (unset) trains contiguous, as before the option; channels_last trains the
    model and every batch channels-last; the layout is recorded with each evaluation."""
    import rcx.nn.train as loop

    seen: list[tuple[bool, bool]] = []
    real_batch = loop.EpochDraws.batch

    def batch(self, data, rows, augment=True, channels_last=False):
        x, y = real_batch(self, data, rows, augment, channels_last)
        seen.append((x.is_contiguous(), x.is_contiguous(memory_format=torch.channels_last)))
        return x, y

    real_train = loop.train
    weights: list[bool] = []

    def train(model, *args, **kwargs):
        # conv weights (partial filters: the learned slice and the frozen rest) larger than 1x1,
        # where the two layouts differ
        convs = [t for t in (*model.parameters(), *model.buffers()) if t.dim() == 4 and t.shape[-1] > 1]
        weights.append(bool(convs) and all(t.is_contiguous(memory_format=torch.channels_last) for t in convs))
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(loop.EpochDraws, "batch", batch)
    monkeypatch.setattr(loop, "train", train)
    store, run_id, _ = run(write_plan(tmp_path, THREE.format(layout=layout), n=1), registry)
    try:
        rows = store.evaluations(run_id)
        assert len(rows) == 3 and {r["extra"]["layout"] for r in rows} == {expected}
    finally:
        store.close()
    cl = expected == "channels_last"
    assert seen and all(s == (not cl, cl) for s in seen)
    assert weights == [cl] * 3


def test_contiguous_is_auto_on_a_cpu_bit_for_bit(registry, tmp_path):
    def metrics(layout: str, sub: str):
        (tmp_path / sub).mkdir()
        store, run_id, _ = run(write_plan(tmp_path / sub, THREE.format(layout=layout), n=1), registry)
        try:
            return {r["evaluator"]: r["metrics"]["train_loss"] for r in store.evaluations(run_id)}
        finally:
            store.close()

    assert metrics("", "auto") == metrics('layout = "contiguous"', "contiguous")


def test_layout_auto_is_channels_last_on_cuda_only():
    """auto keeps the layout rcx used before the option on every device kind."""
    from rcx.evaluators.training import channels_last

    assert channels_last("auto", "cuda") and not channels_last("auto", "cpu") and not channels_last("auto", "mps")
    assert channels_last("channels_last", "cpu") and channels_last("channels_last", "cuda")
    assert not channels_last("contiguous", "cuda") and not channels_last("contiguous", "cpu")
