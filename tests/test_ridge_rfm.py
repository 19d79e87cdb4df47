"""ridge_rfm against an independent reference (torch forward + scikit-learn), screening,
seeding and the bf16 path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeClassifier

from rcx.api.evaluator import EvalContext, RunContext
from rcx.api.init import init_weights
from rcx.api.options import validate_options
from rcx.api.seeding import generator
from rcx.core.data_prep import prepare
from rcx.data.synthetic import SyntheticProvider
from rcx.evaluators.ridge_rfm import RidgeRFM
from rcx.nn.features import ForwardTimer, batched_features
from rcx.spaces.depthmult import DepthMultSpace
from rcx.spaces.ksd import KsdSpace

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    raw = SyntheticProvider().load({"image_size": 32, "n_train": 300, "n_test": 200, "seed": 0, "noise": 0.15},
                                   tmp_path_factory.mktemp("cache"))
    return prepare(raw, {"train_size": None, "test_size": None, "selection": "first", "resize": None,
                         "grayscale_to_rgb": False}, seed=0)


def make(data, space, **options):
    values, problems = validate_options(RidgeRFM.options, options, "ridge_rfm")
    assert not problems
    ev = RidgeRFM(values)
    ev.prepare(RunContext(data=data, space=space, device=CPU, plan_seed=0))
    return ev


def evaluate(ev, space, arch_id, data, seed=123):
    arch = space.from_id(arch_id)
    return ev.evaluate(EvalContext(arch=arch, info=space.describe(arch, data.shape), seed=seed, device=CPU))


def reference_accuracy(data, space, arch_id, seed, trial, train, val, alpha):
    """Seed 001's procedure by hand: forward in batches of 32, sklearn RidgeClassifier."""
    arch = space.from_id(arch_id)
    model = init_weights(space.build(arch, data.shape), "default", generator(seed, "trial", trial)).train()
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)

    def feats(x):
        with torch.no_grad():
            return torch.cat([model((x[i:i + 32].float() / 255 - mean) / std).flatten(1)
                              for i in range(0, len(x), 32)]).numpy()

    clf = RidgeClassifier(alpha=alpha).fit(feats(data.train_x[:train]), data.train_y[:train].numpy())
    return float((clf.predict(feats(data.test_x[:val])) == data.test_y[:val].numpy()).mean())


@pytest.mark.parametrize("arch_id", ["k5-3-3_s1-2-1_d1-1-1", "k3-3-3_s2-1-1_d1-2-1"])
def test_matches_torch_plus_sklearn_reference(data, arch_id):
    space = KsdSpace(channels=8)
    ev = make(data, space, trials=2, train_size=200, val_size=150, dtype="float32")
    result = evaluate(ev, space, arch_id, data)
    ref = [reference_accuracy(data, space, arch_id, 123, t, 200, 150, 1.0) for t in range(2)]
    assert [tr["val_acc"] for tr in result.trials] == pytest.approx(ref, abs=1 / 150 + 1e-9)
    assert result.metrics["val_acc"] == pytest.approx(np.mean([tr["val_acc"] for tr in result.trials]))
    assert result.metrics["trials"] == 2 and result.status == "done"
    assert result.metrics["throughput"] > 0 and result.metrics["train_acc"] > 0.5


def test_seeded_by_identity_not_order(data):
    space = KsdSpace(channels=8)
    ev = make(data, space, trials=2, train_size=100, val_size=100, dtype="float32")
    a1 = evaluate(ev, space, "k5-3-3_s1-2-1_d1-1-1", data, seed=7).metrics["val_acc"]
    evaluate(ev, space, "k3-3-3_s2-1-1_d1-2-1", data, seed=8)
    a2 = evaluate(ev, space, "k5-3-3_s1-2-1_d1-1-1", data, seed=7).metrics["val_acc"]
    assert a1 == a2
    trials = evaluate(ev, space, "k5-3-3_s1-2-1_d1-1-1", data, seed=7).trials
    assert trials[0]["val_acc"] != trials[1]["val_acc"] or trials[0]["train_acc"] != trials[1]["train_acc"]


def test_screening_stops_after_one_trial(data):
    space = KsdSpace(channels=8)
    ev = make(data, space, trials=5, train_size=100, val_size=100, screen_val_acc=0.99)
    result = evaluate(ev, space, "k5-3-3_s1-2-1_d1-1-1", data)
    assert result.status == "screened" and result.metrics["trials"] == 1 and len(result.trials) == 1
    ev = make(data, space, trials=3, train_size=100, val_size=100, screen_throughput=1e12)
    assert evaluate(ev, space, "k5-3-3_s1-2-1_d1-1-1", data).status == "screened"


def test_loo_lambda_and_onehot_targets(data):
    space = KsdSpace(channels=8)
    loo = evaluate(make(data, space, trials=1, train_size=150, val_size=100, standardize=True, **{"lambda": "loo"}),
                   space, "k5-3-3_s1-2-1_d1-1-1", data)
    assert loo.metrics["lambda"] > 0
    onehot = evaluate(make(data, space, trials=1, train_size=150, val_size=100, targets="onehot", **{"lambda": 0.7}),
                      space, "k5-3-3_s1-2-1_d1-1-1", data)
    assert onehot.metrics["lambda"] == 0.7 and 0 <= onehot.metrics["val_acc"] <= 1


def test_bn_mode_matters_for_depthmult(data):
    space = DepthMultSpace(depth=[3])
    arch_id = space.arch_at(0).id
    train = evaluate(make(data, space, trials=1, train_size=150, val_size=100, standardize=True), space, arch_id, data)
    evalm = evaluate(make(data, space, trials=1, train_size=150, val_size=100, standardize=True, bn_mode="eval"),
                     space, arch_id, data)
    assert (train.trials[0]["train_acc"] != evalm.trials[0]["train_acc"]
            or train.metrics["val_acc"] != evalm.metrics["val_acc"])


def test_bfloat16_agrees_with_float32(data):
    """The bf16 feature path is used by default on CPUs that have it: its accuracy must match."""
    space = KsdSpace(channels=8)
    ids = [space.arch_at(i).id for i in (100, 2000, 9000, 20000)]
    ids = [a for a in ids if space.describe(space.from_id(a), data.shape).valid] or ["k5-3-3_s1-2-1_d1-1-1"]
    f32 = make(data, space, trials=1, train_size=200, val_size=200, standardize=True, dtype="float32")
    b16 = make(data, space, trials=1, train_size=200, val_size=200, standardize=True, dtype="bfloat16")
    diffs = [evaluate(f32, space, a, data).metrics["val_acc"] - evaluate(b16, space, a, data).metrics["val_acc"]
             for a in ids]
    assert abs(np.mean(diffs)) <= 0.03 and max(abs(d) for d in diffs) <= 0.06


def test_shared_init_computes_features_once_and_matches_streaming(data, monkeypatch):
    """init_seed = "shared": a second instance with another readout reuses the first one's
    features (no forward pass), and its results equal a fresh, uncached computation."""
    import rcx.evaluators.ridge_rfm as mod
    from rcx.api.seeding import derive_seed

    space = KsdSpace(channels=8)
    arch_id = "k5-3-3_s1-2-1_d1-1-1"
    fixed = make(data, space, trials=2, train_size=120, val_size=80, init_seed="shared")
    loo = make(data, space, trials=2, train_size=120, val_size=80, init_seed="shared", standardize=True,
               **{"lambda": "loo"})
    mod.SHARED_FEATURES.clear()
    calls = []
    real = mod.RidgeRFM._features
    monkeypatch.setattr(mod.RidgeRFM, "_features", lambda self, *a: calls.append(1) or real(self, *a))
    first = evaluate(fixed, space, arch_id, data, seed=1)
    second = evaluate(loo, space, arch_id, data, seed=2)  # another instance's seed: ignored when shared
    assert len(calls) == 2  # two trials of the first instance; the second instance computed nothing
    assert second.metrics["throughput"] == first.metrics["throughput"]
    mod.SHARED_FEATURES.clear()
    alone = evaluate(loo, space, arch_id, data, seed=3)
    assert len(calls) == 4
    assert [t["val_acc"] for t in alone.trials] == [t["val_acc"] for t in second.trials]
    assert [t["lambda"] for t in alone.trials] == [t["lambda"] for t in second.trials]
    # the shared seed is the one an instance named like the plugin gets: bit-identical to streaming
    streamed = make(data, space, trials=2, train_size=120, val_size=80)
    reference = evaluate(streamed, space, arch_id, data, seed=derive_seed(0, "ridge_rfm", arch_id))
    assert [t["val_acc"] for t in reference.trials] == [t["val_acc"] for t in first.trials]
    assert [t["train_acc"] for t in reference.trials] == [t["train_acc"] for t in first.trials]


@pytest.mark.parametrize("init_seed", ["instance", "shared"])
def test_every_forward_batch_is_used_no_extra_warm_up(data, monkeypatch, init_seed):
    """The evaluation runs ceil(train / B) + ceil(val / B) forward batches per trial and not one
    more: the first batch (first call for these shapes) is left out of the throughput instead of
    being run twice."""
    import rcx.evaluators.ridge_rfm as mod

    space = KsdSpace(channels=8)
    arch_id = "k5-3-3_s1-2-1_d1-1-1"
    forwards = []
    build = KsdSpace.build

    def counting_build(self, *args, **kwargs):
        model = build(self, *args, **kwargs)
        model.register_forward_pre_hook(lambda module, inputs: forwards.append(inputs[0].shape[0]))
        return model

    monkeypatch.setattr(KsdSpace, "build", counting_build)
    mod.SHARED_FEATURES.clear()
    ev = make(data, space, trials=2, train_size=96, val_size=40, batch_size=32, dtype="float32", init_seed=init_seed)
    result = evaluate(ev, space, arch_id, data, seed=5)
    assert forwards == [32, 32, 32, 32, 8] * 2
    assert result.metrics["throughput"] > 0
    forwards.clear()
    timer = ForwardTimer(skip=1)  # the first batch computed, not timed
    model = space.build(space.from_id(arch_id), data.shape)
    assert len([f for _, f in batched_features(model, ev.train_x, ev.normalize, 32, torch.float32, timer)]) == 3
    assert forwards == [32, 32, 32] and timer.images == 64 and timer.seconds > 0


@pytest.mark.parametrize("dtype,layout", [("float32", "contiguous"), ("bfloat16", "auto")])
def test_inputs_normalised_once_per_run_give_bit_identical_features(data, monkeypatch, dtype, layout):
    """prepare() stages the normalised input once; candidates then run no normalisation, and
    their features and results equal those of the per-batch normalisation to the bit."""
    import rcx.evaluators.ridge_rfm as mod
    from rcx.api.device import Normalizer

    space = KsdSpace(channels=8)
    arch_id = "k5-3-3_s1-2-1_d1-1-1"
    arch = space.from_id(arch_id)
    ctx = EvalContext(arch=arch, info=space.describe(arch, data.shape), seed=1, device=CPU)
    options = {"trials": 2, "train_size": 100, "val_size": 60, "dtype": dtype, "layout": layout}
    staged = make(data, space, **options)
    monkeypatch.setattr(mod, "STAGE_BYTES", 0)
    per_batch = make(data, space, **options)
    assert [x.dtype for x in staged.inputs] == [torch.float32] * 2
    assert [x.dtype for x in per_batch.inputs] == [torch.uint8] * 2
    calls = []
    real = Normalizer.__call__
    monkeypatch.setattr(Normalizer, "__call__", lambda self, x: calls.append(x.shape[0]) or real(self, x))

    def features(ev):
        model = init_weights(space.build(arch, data.shape), "default", generator(1, "trial", 0)).train()
        model = model.to(memory_format=torch.channels_last) if ev.channels_last else model
        return ev._features(model, ctx, ForwardTimer())

    a = features(staged)
    assert calls == []
    b = features(per_batch)
    assert calls == [32, 32, 32, 4, 32, 28]
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    ra, rb = evaluate(staged, space, arch_id, data, seed=3), evaluate(per_batch, space, arch_id, data, seed=3)
    drop = ("throughput",)
    assert [{k: v for k, v in t.items() if k not in drop} for t in ra.trials] == \
        [{k: v for k, v in t.items() if k not in drop} for t in rb.trials]


def test_unread_convolution_outputs_skipped_without_changing_a_number(data, monkeypatch):
    """A ksd stack whose third layer reads every second row of the second: the evaluation
    rewrites the network (rcx.nn.unread) and its results equal those of the full network."""
    from rcx.nn import unread

    space = KsdSpace(channels=8)
    arch_id = "k3-3-3_s1-2-1_d1-2-1"  # layer 2: stride 2, dilation 2 -> layer 1 computes every second row
    ev = make(data, space, trials=2, train_size=100, val_size=60, dtype="bfloat16")  # int8's ranges see fewer rows
    rewrites = []
    real = unread.skip_unread_outputs
    monkeypatch.setattr(unread, "skip_unread_outputs", lambda m: rewrites.append(real(m)) or rewrites[-1])
    skipped = evaluate(ev, space, arch_id, data, seed=4)
    assert rewrites == [1]
    monkeypatch.setattr(unread, "skip_unread_outputs", lambda m: 0)
    full = evaluate(ev, space, arch_id, data, seed=4)
    keys = ("val_acc", "train_acc", "lambda", "solver")
    assert [[t[k] for k in keys] for t in skipped.trials] == [[t[k] for k in keys] for t in full.trials]


def test_shared_cache_never_matches_another_dataset(data, tmp_path, monkeypatch):
    """The cache holds the dataset weakly and by identity: a run on other images recomputes."""
    import rcx.evaluators.ridge_rfm as mod

    raw = SyntheticProvider().load({"image_size": 32, "n_train": 300, "n_test": 200, "seed": 5, "noise": 0.15},
                                   tmp_path)
    other = prepare(raw, {"train_size": None, "test_size": None, "selection": "first", "resize": None,
                          "grayscale_to_rgb": False}, seed=0)
    space = KsdSpace(channels=8)
    arch_id = "k3-3-3_s2-1-1_d1-2-1"
    calls = []
    real = mod.RidgeRFM._features
    monkeypatch.setattr(mod.RidgeRFM, "_features", lambda self, *a: calls.append(1) or real(self, *a))
    mod.SHARED_FEATURES.clear()
    evaluate(make(data, space, trials=1, train_size=120, val_size=80, init_seed="shared"), space, arch_id, data)
    b = evaluate(make(other, space, trials=1, train_size=120, val_size=80, init_seed="shared"), space, arch_id, other)
    assert len(calls) == 2  # same key, other dataset: computed again
    mod.SHARED_FEATURES.clear()
    b_fresh = evaluate(make(other, space, trials=1, train_size=120, val_size=80, init_seed="shared"), space, arch_id,
                       other)
    accs = [[(t["val_acc"], t["train_acc"]) for t in e.trials] for e in (b, b_fresh)]
    assert accs[0] == accs[1]


def test_init_seed_at_its_default_keeps_the_plan_hash(registry, tmp_path):
    """init_seed was added after results were published: at "instance" a plan's identity (and so
    the results file it resumes) is what it was before; "shared" is a different plan."""
    from rcx.core.plan import parse_plan

    base = (
        'name = "h"\nseed = 0\noutput = "%s"\n[dataset]\nname = "synthetic"\n[space]\nname = "ksd"\n'
        "[sampler]\nkind = \"random\"\nn = 2\n[evaluators.ridge_rfm]\ntrials = 1\n" % (tmp_path / "h.db")
    )
    plain, explicit, shared = (parse_plan(base + extra, registry)
                               for extra in ("", 'init_seed = "instance"\n', 'init_seed = "shared"\n'))
    assert "init_seed" not in plain.normalized()["evaluators"]["ridge_rfm"]
    assert plain.hash == explicit.hash
    assert shared.hash != plain.hash
    assert shared.normalized()["evaluators"]["ridge_rfm"]["init_seed"] == "shared"


INT8 = pytest.mark.skipif("x86" not in torch.backends.quantized.supported_engines,
                          reason="needs PyTorch's x86 quantized engine")


@INT8
def test_int8_features_are_the_same_network_within_rounding(data):
    """dtype = int8 runs the network that dtype = float32 draws (same seed, same weights), its
    activation ranges observed on the first training batch: there the features are within 4 % of
    float32's largest (tests/test_int8.py says why); other batches may exceed the observed range
    and saturate at it, which leaves the root-mean-square error within 4 % as well; the same
    numbers on every call."""
    space = KsdSpace(channels=8)
    arch = space.from_id("k5-3-3_s1-2-1_d1-1-1")
    ctx = EvalContext(arch=arch, info=space.describe(arch, data.shape), seed=1, device=CPU)
    f32, i8 = (make(data, space, trials=1, train_size=100, val_size=60, dtype=d) for d in ("float32", "int8"))
    assert i8.int8 and i8.dtype in (torch.float32, torch.bfloat16)  # the calibration's precision

    def features(ev):
        model = init_weights(space.build(arch, data.shape), "default", generator(1, "trial", 0)).train()
        model = model.to(memory_format=torch.channels_last)
        return ev._features(ev._quantize(model) if ev.int8 else model, ctx, ForwardTimer())

    ref, a, b = features(f32), features(i8), features(i8)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    assert a.train.dtype == torch.float32 and a.train.shape == ref.train.shape and a.val.shape == ref.val.shape
    first = slice(0, i8.batch_size)
    assert float((a.train[first] - ref.train[first]).abs().max() / ref.train[first].abs().max()) <= 0.04
    for q, r in ((a.train, ref.train), (a.val, ref.val)):
        assert float((q - r).norm() / r.norm()) <= 0.04


@INT8
def test_int8_accuracy_agrees_with_float32_and_is_deterministic(data):
    """The ridge readout on int8 features: accuracies as close to float32's as bf16's must be
    (test_bfloat16_agrees_with_float32), and the same result for the same seed."""
    space = KsdSpace(channels=8)
    ids = [space.arch_at(i).id for i in (100, 2000, 9000, 20000)]
    ids = [a for a in ids if space.describe(space.from_id(a), data.shape).valid] or ["k5-3-3_s1-2-1_d1-1-1"]
    opts = {"trials": 1, "train_size": 200, "val_size": 200, "standardize": True}
    f32 = make(data, space, dtype="float32", **opts)
    i8 = make(data, space, dtype="int8", **opts)
    results = [evaluate(i8, space, a, data) for a in ids]
    diffs = [evaluate(f32, space, a, data).metrics["val_acc"] - r.metrics["val_acc"] for a, r in zip(ids, results)]
    assert abs(np.mean(diffs)) <= 0.03 and max(abs(d) for d in diffs) <= 0.06
    assert results[0].extra["dtype"] == "int8"
    again = evaluate(make(data, space, dtype="int8", **opts), space, ids[0], data)
    assert again.trials[0] | {"throughput": 0} == results[0].trials[0] | {"throughput": 0}


def test_auto_dtype_picks_int8_for_conv_relu_stacks_on_vnni_cpus_only(data, monkeypatch):
    """dtype = "auto" on a CPU: int8 where the CPU has int8 dot products and the network is a
    Conv2d/ReLU stack (ksd), bfloat16 or float32 for any other network (BatchNorm: depthmult)
    and on a CPU without them, each recorded in the evaluation's extra."""
    import rcx.nn.int8 as int8

    ksd, bn = KsdSpace(channels=8), DepthMultSpace(depth=[3])
    opts = {"trials": 1, "train_size": 64, "val_size": 32}
    for fast in (True, False):
        monkeypatch.setattr(int8, "int8_fast", lambda fast=fast: fast and int8.int8_supported())
        for space, arch_id in ((ksd, "k5-3-3_s1-2-1_d1-1-1"), (bn, bn.arch_at(0).id)):
            ev = make(data, space, **opts)
            got = evaluate(ev, space, arch_id, data).extra["dtype"]
            want = "int8" if fast and space is ksd and int8.int8_supported() else str(ev.dtype).removeprefix("torch.")
            assert got == want and got in ("int8", "bfloat16", "float32")


class _KsdWithOneBatchNorm(KsdSpace):
    """ksd, except that its first architecture ends in a BatchNorm (a space of mixed networks)."""

    def build(self, arch, in_shape):
        net = super().build(arch, in_shape)
        if arch.id == self.arch_at(0).id:
            net.append(torch.nn.BatchNorm2d(net[-2].out_channels))
        return net


def test_int8_refused_where_it_cannot_run(data, monkeypatch):
    """No x86 quantized engine (or not a CPU): prepare says so. A space none of whose networks
    is a Conv2d/ReLU stack (BatchNorm: depthmult): prepare says so, once, before any candidate.
    A space with some such networks runs them; each other network fails its evaluation with the
    reason."""
    import rcx.nn.int8 as int8

    monkeypatch.setattr(int8, "int8_supported", lambda: False)
    with pytest.raises(ValueError, match="int8 needs an x86 CPU"):
        make(data, KsdSpace(channels=8), train_size=50, val_size=50, dtype="int8")
    monkeypatch.undo()
    if not int8.int8_supported():
        return
    with pytest.raises(ValueError, match=r"Conv2d/ReLU stacks only .*depthmult.*BatchNorm2d.*dtype = \"auto\""):
        make(data, DepthMultSpace(depth=[3]), trials=1, train_size=50, val_size=50, dtype="int8")
    mixed = _KsdWithOneBatchNorm(channels=8)
    ev = make(data, mixed, trials=1, train_size=50, val_size=50, dtype="int8")
    with pytest.raises(ValueError, match="Conv2d and ReLU.*BatchNorm2d"):
        evaluate(ev, mixed, mixed.arch_at(0).id, data)
    assert evaluate(ev, mixed, mixed.arch_at(1).id, data).extra["dtype"] == "int8"


def test_ridge_steps_benchmark_baseline_is_the_float_path_where_auto_picks_int8(data, monkeypatch):
    """benchmarks/ridge_steps.py: its ``rcx evaluate`` and ``rcx features`` columns (and its
    ``bf16 / int8`` ratios) are the float path; on a VNNI CPU ``auto`` is int8 for ksd stacks
    (version 3), so the benchmark pins ``auto`` to bfloat16 or float32, which never picks int8."""
    import importlib
    import sys
    from pathlib import Path

    import rcx.nn.int8 as int8
    from rcx.nn.features import choose_dtype

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    for name in ("ridge_steps", "ridge_rfm", "cifar_subset", "issue21_start"):  # the benchmark's own modules
        monkeypatch.delitem(sys.modules, name, raising=False)
    steps = importlib.import_module("ridge_steps")
    pinned = steps.float_options({"trials": 1, "dtype": "auto"}, CPU)
    assert pinned == {"trials": 1, "dtype": str(choose_dtype("auto", CPU)).removeprefix("torch.")}
    assert steps.float_options({"dtype": "int8"}, CPU) == {"dtype": "int8"}
    monkeypatch.setattr(int8, "int8_fast", lambda: True)
    assert make(data, KsdSpace(channels=8), train_size=50, val_size=50).int8_auto  # what auto does there
    ev = make(data, KsdSpace(channels=8), train_size=50, val_size=50, dtype=pinned["dtype"])
    assert not ev.int8 and not ev.int8_auto
