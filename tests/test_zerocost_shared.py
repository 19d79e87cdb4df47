"""``init_seed = "shared"`` on the zero-cost proxies (issue 21): snip, grad_norm, grasp, fisher and
jacov read one forward/backward computation (``proxies.gradient_scores``), whose values are each
proxy's own function on the same weights, and a proxy's score depends neither on the evaluation
order nor on which other proxies the plan holds."""

from __future__ import annotations

import pytest
import torch

from rcx.api import EvalContext, RunContext, generator, init_weights
from rcx.api.dataset import ImageDataset
from rcx.spaces.nb201 import NB201Space

SPACE = NB201Space(channels=4, cells=1)
SHARED = ("snip", "grad_norm", "grasp", "fisher", "jacov")
CELLS = ("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
         "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|")


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """One thread: a fixed summation order."""


@pytest.fixture(scope="module")
def data() -> ImageDataset:
    g = torch.Generator().manual_seed(11)
    return ImageDataset("t", torch.randint(0, 256, (40, 3, 12, 12), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (40,), generator=g), torch.zeros(1, 3, 12, 12, dtype=torch.uint8),
                        torch.zeros(1, dtype=torch.long), [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3)


def _evaluators(registry, data, names, **options):
    out = {}
    for name in names:
        ev = registry.entries["evaluator"][name].obj({"batch_size": 16, "init_seed": "shared", "trials": 2, **options})
        ev.prepare(RunContext(data, SPACE, torch.device("cpu"), 3))
        out[name] = ev
    return out


def _score(ev, arch_id: str, seed: int):
    arch = SPACE.from_id(arch_id)
    return ev.evaluate(EvalContext(arch, SPACE.describe(arch, (3, 12, 12)), seed, torch.device("cpu"))).metrics["score"]


@pytest.mark.parametrize("arch_id", CELLS)
def test_gradient_scores_equal_the_proxies_one_by_one(arch_id):
    from rcx_zerocost import proxies

    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(16, 3, 12, 12, generator=g), torch.randint(0, 10, (16,), generator=g)
    loss = proxies.LOSSES["cross_entropy"]

    def net():
        model = SPACE.build_classifier(SPACE.from_id(arch_id), (3, 12, 12), 10).train()
        init_weights(model, "default", generator(4, "trial", 0))
        return model

    together = proxies.gradient_scores(net(), x, y, loss)
    alone = {"snip": proxies.snip(net(), x, y, loss), "grad_norm": proxies.grad_norm(net(), x, y, loss),
             "grasp": proxies.grasp(net(), x, y, loss), "fisher": proxies.fisher(net(), x, y, loss),
             "fisher_channel": proxies.fisher(net(), x, y, loss, per_weight=False), "jacov": proxies.jacov(net(), x)}
    assert set(together) == set(proxies.GRADIENT_SCORES) == set(alone)
    for name, value in alone.items():
        assert together[name] == pytest.approx(value, rel=1e-6), name


def test_shared_scores_do_not_depend_on_the_other_proxies_or_the_order(registry, data, monkeypatch):
    from rcx_zerocost import proxies

    calls = []
    real = proxies.gradient_scores
    monkeypatch.setattr(proxies, "gradient_scores", lambda *a: calls.append(1) or real(*a))
    alone = {}
    for name in SHARED:  # each proxy in a plan of its own (a fresh run: fresh data objects)
        fresh = ImageDataset(data.name, data.train_x, data.train_y, data.test_x, data.test_y, data.classes,
                             data.mean, data.std)
        alone[name] = [_score(_evaluators(registry, fresh, [name])[name], a, 100 + i) for i, a in enumerate(CELLS)]
    assert len(calls) == len(SHARED) * len(CELLS) * 2  # two trials each
    calls.clear()
    together = _evaluators(registry, data, SHARED[::-1])
    for i, arch_id in enumerate(CELLS):
        for name in SHARED[::-1]:
            # another instance seed per proxy: shared weights come from (plan seed, candidate) only
            assert _score(together[name], arch_id, 200 + len(name) + i) == alone[name][i], name
    assert len(calls) == len(CELLS) * 2  # computed once per candidate and trial, read by all five


def test_options_that_change_the_computation_do_not_share_it(registry, data):
    both = (_evaluators(registry, data, ["snip"])
            | {"grasp": _evaluators(registry, data, ["grasp"], loss="mse")["grasp"]})
    mse_alone = _evaluators(registry, data, ["grasp"], loss="mse")["grasp"]
    _score(both["snip"], CELLS[0], 1)
    assert _score(both["grasp"], CELLS[0], 1) == _score(mse_alone, CELLS[0], 2)
