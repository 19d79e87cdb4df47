"""The ``cvu`` evaluator: batched = looped initialisations, the paper's statistics, common
random numbers, degenerate architectures, the bf16 check, and results in the store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rcx.api.evaluator import EvalContext, RunContext
from rcx.api.init import init_weights
from rcx.api.options import validate_options
from rcx.api.seeding import generator
from rcx.core.data_prep import prepare
from rcx.core.device import resolve_device
from rcx.core.plan import PlanError, parse_plan
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.data.synthetic import SyntheticProvider
from rcx.evaluators.cvu import CVU
from rcx.nn.multi_init import batched_logits, loop_logits
from rcx.spaces.depthmult import DepthMultSpace
from rcx.spaces.ksd import KsdSpace
from rcx.spaces.mlp2 import MLP2Space
from rcx.spaces.nb201 import NB201Space

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    raw = SyntheticProvider().load({"image_size": 16, "n_train": 200, "n_test": 20, "seed": 0, "noise": 0.15},
                                   tmp_path_factory.mktemp("cache"))
    return prepare(raw, {}, seed=0)


def make(data, space, seed=0, **options):
    values, problems = validate_options(CVU.options, {"n_init": 8, "batch_size": 64, "dtype": "float32", **options},
                                        "cvu")
    assert not problems, problems
    ev = CVU(values)
    ev.prepare(RunContext(data=data, space=space, device=CPU, plan_seed=seed))
    return ev


def evaluate(ev, space, arch_id, data):
    arch = space.from_id(arch_id)
    return ev.evaluate(EvalContext(arch=arch, info=space.describe(arch, data.shape), seed=1, device=CPU))


@pytest.mark.parametrize("space, arch_id", [
    (NB201Space(channels=4, cells=1), MIXED),
    (KsdSpace(channels=6), "k3-5-3_s1-1-2_d1-2-1"),
    (DepthMultSpace(base_width=6), "k3-5-3_m1-1.25-1.5"),
    (MLP2Space(), "u16-24"),
])
@pytest.mark.parametrize("bn_train", [True, False])
@pytest.mark.parametrize("chunk", [3, 0])
def test_batched_initialisations_equal_the_loop(space, arch_id, bn_train, chunk):
    in_shape = (3, 16, 16)
    arch = space.from_id(arch_id)
    model = space.build_classifier(arch, in_shape, 10).train(bn_train)
    x = torch.randn(24, *in_shape, generator=torch.Generator().manual_seed(0))
    gens = lambda: [generator(0, "cvu", "init", i) for i in range(7)]  # noqa: E731
    looped = torch.cat(list(loop_logits(model, "kaiming_normal", gens(), x)))
    batched = torch.cat(list(batched_logits(model, "kaiming_normal", gens(), x, chunk=chunk, bn_train=bn_train)))
    assert looped.shape == batched.shape == (7, 24, 10)
    torch.testing.assert_close(batched, looped, rtol=1e-4, atol=1e-5)
    assert torch.equal(batched.argmax(-1), looped.argmax(-1))
    if bn_train:  # a BN layer on batch statistics: different inits really differ
        assert not torch.allclose(looped[0], looped[1])


def test_statistics_match_an_independent_reference(data):
    space = NB201Space(channels=4, cells=1)
    ev = make(data, space, seed=3, n_init=6, batch_size=50, init="kaiming_uniform", augment=False)
    result = evaluate(ev, space, MIXED, data)

    # by hand: the seeded batch as it is (rcx's values before `augment`), PyTorch modules, one init after the other
    idx = torch.randperm(data.train_x.shape[0], generator=generator(3, "cvu", "batch"))[:50]
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    x, y = (data.train_x[idx].float() / 255 - mean) / std, data.train_y[idx]
    net = space.build_classifier(space.from_id(MIXED), data.shape, 10).train()
    u = []
    for i in range(6):
        init_weights(net, "kaiming_uniform", generator(3, "cvu", "init", i))
        with torch.no_grad():
            u.append((net(x).argmax(1) == y).sum().item() / 50)
    u = np.array(u)
    assert [t["u"] for t in result.trials] == pytest.approx(u.tolist())
    m = result.metrics
    assert m["mu_u"] == pytest.approx(u.mean()) and m["sigma_u"] == pytest.approx(u.std(ddof=0))
    assert m["cv_u"] == pytest.approx(u.std() / u.mean()) and m["sigma_u"] > 0
    assert m["u_min"] == u.min() and m["u_max"] == u.max()
    assert result.status == "done" and result.extra["batch_size"] == 50
    assert sum(result.extra["batch_classes"]) == 50


def test_the_augmented_batch_is_a_seeded_pad4_crop_and_flip_of_the_plain_one(data):
    space = NB201Space(channels=4, cells=1)
    plain = make(data, space, seed=3, batch_size=40, augment=False)
    augmented = make(data, space, seed=3, batch_size=40)  # augment = true is the default
    assert torch.equal(augmented.batch_index, plain.batch_index)  # the same images, transformed
    assert torch.equal(make(data, space, seed=3, batch_size=40).x, augmented.x)  # deterministic
    assert not torch.equal(make(data, space, seed=4, batch_size=40, augment=False).x, plain.x)
    assert not torch.equal(augmented.x, plain.x)
    # by hand: each image is one of the 9 x 9 crops of its zero-padded (black) copy, flipped or not
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    padded = torch.nn.functional.pad(data.train_x[plain.batch_index].float() / 255, (4, 4, 4, 4))
    h, w = data.shape[1:]
    found = []
    for b in range(40):
        variants = {(dy, dx, flip): (padded[b, :, dy:dy + h, dx:dx + w].flip(-1) if flip else
                                     padded[b, :, dy:dy + h, dx:dx + w])
                    for dy in range(9) for dx in range(9) for flip in (False, True)}
        target = augmented.x[b:b + 1] * std + mean
        found.append([k for k, v in variants.items() if torch.allclose(v[None], target, atol=1e-5)])
    assert all(found)
    assert {k[2] for keys in found for k in keys} == {False, True}  # both flips occur
    assert len({k[:2] for keys in found for k in keys}) > 5  # and many offsets


def test_augment_false_keeps_the_previous_results_and_true_changes_them(data):
    space = NB201Space(channels=4, cells=1)
    before = evaluate(make(data, space, seed=3, n_init=6, batch_size=50, augment=False), space, MIXED, data)
    after = evaluate(make(data, space, seed=3, n_init=6, batch_size=50), space, MIXED, data)
    # an augmented batch with the same labels and initialisations gives other accuracies
    assert [t["u"] for t in before.trials] != [t["u"] for t in after.trials]
    ev = make(data, space, seed=3, n_init=6, batch_size=50)
    other = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    evaluate(ev, space, other, data)
    assert evaluate(ev, space, MIXED, data).trials == after.trials  # common random numbers, augmented too


def test_common_random_numbers_and_order_independence(data):
    space = NB201Space(channels=4, cells=1)
    other = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    first = evaluate(make(data, space), space, MIXED, data)
    ev = make(data, space)
    evaluate(ev, space, other, data)
    again = evaluate(ev, space, MIXED, data)  # after another architecture, in the same run
    assert first.trials == again.trials and first.metrics["cv_u"] == again.metrics["cv_u"]
    shifted = evaluate(make(data, space, seed=1), space, MIXED, data)
    assert shifted.trials != first.trials  # another plan seed: other batch, other inits


def test_degenerate_architecture(data):
    space = NB201Space(channels=4, cells=1)
    result = evaluate(make(data, space), space, ALL_NONE, data)
    assert result.status == "degenerate"
    assert result.metrics["sigma_u"] == 0 and result.metrics["cv_u"] is None
    assert result.metrics["mu_u"] == pytest.approx(result.trials[0]["u"])  # one class for every init


def test_bf16_is_checked_against_float32_and_falls_back(data, monkeypatch):
    space = NB201Space(channels=4, cells=1)
    checked = evaluate(make(data, space, dtype="bfloat16", bf16_check=2), space, MIXED, data)
    check = checked.extra["bf16_check"]
    assert check["inits"] == 2 and 0 <= check["max_abs_diff"] <= 1 and 0 <= check["same_predictions"] <= 1
    assert checked.extra["dtype"] == ("bfloat16" if check["agrees"] else "float32")
    assert evaluate(make(data, space), space, MIXED, data).extra["bf16_check"] is None
    few = evaluate(make(data, space, dtype="bfloat16", n_init=2, bf16_check=3), space, MIXED, data)
    assert len(few.trials) == 2 and few.extra["bf16_check"]["inits"] == 2

    original = CVU._accuracies

    def skewed(self, model, inits, dtype, ctx):  # pretend bf16 changed the predictions
        u, chunk, pred = original(self, model, inits, dtype, ctx)
        return (u + 0.2 if dtype == torch.bfloat16 else u), chunk, pred

    monkeypatch.setattr(CVU, "_accuracies", skewed)
    fallback = evaluate(make(data, space, dtype="bfloat16"), space, MIXED, data)
    assert fallback.extra["bf16_check"]["agrees"] is False
    assert fallback.extra["dtype"] == "float32"
    reference = evaluate(make(data, space, dtype="float32"), space, MIXED, data)
    assert fallback.trials == reference.trials


def test_batch_larger_than_the_training_split_is_refused(data, registry):
    with pytest.raises(ValueError, match="batch_size = 500 but the dataset's train split has 200"):
        make(data, NB201Space(), batch_size=500)
    text = ('[dataset]\nname = "synthetic"\ntrain_size = 100\n[space]\nname = "nb201"\n'
            '[evaluators.cvu]\nbatch_size = 256\n')
    with pytest.raises(PlanError, match="batch_size: 256 exceeds dataset.train_size = 100"):
        parse_plan(text, registry)


def test_cvu_metrics_and_statuses_land_in_the_store(tmp_path, registry):
    text = f"""
seed = 0
device = "cpu"
output = "{tmp_path / 'cvu.db'}"
[dataset]
name = "synthetic"
n_train = 100
n_test = 10
image_size = 16
[space]
name = "nb201"
channels = 4
cells = 1
[sampler]
kind = "exhaustive"
n = 2
[evaluators.cvu]
n_init = 4
batch_size = 32
"""
    plan = parse_plan(text, registry)
    store = Store.open(plan.output)
    run_id = Runner(plan, registry).run(store)
    rows = {r["arch"]: r for r in store.evaluations(run_id)}
    store.close()
    assert set(rows) == {ALL_NONE, "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"}
    for row in rows.values():
        assert row["evaluator"] == "cvu" and row["status"] == "degenerate"  # no conv reaches the output
        assert set(row["metrics"]) >= {"mu_u", "sigma_u", "cv_u"} and row["metrics"]["cv_u"] is None
        assert len(row["trials"]) == 4 and row["extra"]["path"] == "loop"
    assert registry.get("evaluator", "cvu").metrics[0].name == "cv_u"
    assert registry.get("evaluator", "cvu")({}).metric("cv_u").higher_is_better is False


def test_seed002_examples_validate(registry):
    for name, space, n_init, batch in (("seed002_cvu_nb201.toml", "nb201", 100, 256),
                                       ("seed002_mlp2_mnist.toml", "mlp2", 100, 200)):
        plan = parse_plan((ROOT / "examples" / name).read_text(), registry, source=name)
        assert plan.space == space and plan.evaluators[0].plugin == "cvu"
        assert (plan.evaluators[0].options["n_init"], plan.evaluators[0].options["batch_size"]) == (n_init, batch)
    assert json.loads(json.dumps(CVU.statuses)) == ["done", "degenerate"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_runs_the_batched_path_and_matches_the_cpu_loop(data):
    space = NB201Space(channels=4, cells=1)
    cuda = resolve_device("cuda")  # as a run's: float32 convolutions without TF32, like the CPU's
    values, _ = validate_options(CVU.options, {"n_init": 12, "batch_size": 64, "dtype": "float32"}, "cvu")
    ev = CVU(values)
    ev.prepare(RunContext(data=data, space=space, device=cuda, plan_seed=0))
    arch = space.from_id(MIXED)
    result = ev.evaluate(EvalContext(arch=arch, info=space.describe(arch, data.shape), seed=1, device=cuda))
    assert result.extra["path"] == "batched" and result.extra["chunk"] >= 1
    cpu = evaluate(make(data, space, n_init=12), space, MIXED, data)
    assert [t["u"] for t in result.trials] == pytest.approx([t["u"] for t in cpu.trials], abs=2 / 64)
