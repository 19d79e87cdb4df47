"""The plugin package ``plugins/rcx-zerocost``: each proxy against an independent computation
on a tiny network, determinism, and end-to-end runs through plans on ``nb201`` and ``ksd``."""

from __future__ import annotations

import math
from importlib import metadata

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rcx.api import EvalContext, RunContext
from rcx.api.dataset import ImageDataset
from rcx.core.plan import parse_plan
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.spaces.ksd import KsdSpace
from rcx.spaces.nb201 import NB201Space

NAMES = ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "zen", "zico")


@pytest.fixture(scope="module", autouse=True)
def installed():
    if "rcx-zerocost" not in {d.metadata["Name"] for d in metadata.distributions()}:
        pytest.fail("rcx-zerocost is not installed here: pip install -e plugins/rcx-zerocost (README's test command)")


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Tiny networks: one torch thread is faster and keeps float sums in a fixed order."""


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tiny_mlp(bias: bool = False) -> nn.Sequential:
    """Linear(6 -> 5) -> ReLU -> Linear(5 -> 4), float64, seeded."""
    net = nn.Sequential(nn.Linear(6, 5, bias=bias), nn.ReLU(), nn.Linear(5, 4, bias=bias)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=_gen(p.numel()), dtype=torch.float64))
    return net


def _mlp_grads(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dW1, dL/dW2 of the mean cross-entropy, by hand (no autograd)."""
    w1, w2 = net[0].weight.detach(), net[2].weight.detach()
    pre = x @ w1.T
    h = pre.clamp(min=0)
    z = h @ w2.T
    p = torch.softmax(z, -1)
    dz = (p - F.one_hot(y, 4).double()) / x.shape[0]  # (N, 4)
    dw2 = dz.T @ h
    dh = (dz @ w2) * (pre > 0)
    return dh.T @ x, dw2


def _xy(n: int = 8, shape: tuple[int, ...] = (6,), classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(1)
    return torch.randn(n, *shape, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


# --- synflow ---------------------------------------------------------------------------------

def test_synflow_of_one_linear_layer_is_the_sum_of_absolute_weights():
    from rcx_zerocost.proxies import synflow

    layer = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [-0.25, 3.0, -1.0]]))
    # R = sum_ij |W_ij| * 1, dR/dW_ij = 1: the score is sum |W| = 7.75
    assert synflow(nn.Sequential(layer), (3,)) == pytest.approx(7.75)


def test_synflow_of_a_bias_free_relu_net_is_layers_times_output_sum():
    from rcx_zerocost.proxies import remove_batchnorm, synflow

    net = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 4, 3, bias=False),
                        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 5, bias=False))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=_gen(p.numel())))
    remove_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    with torch.no_grad():  # R of the |theta| network by an explicit forward
        x = torch.ones(1, 2, 7, 7, dtype=torch.float64)
        w = [net[0].weight.abs().double(), net[3].weight.abs().double(), net[6].weight.abs().double()]
        r = (F.conv2d(F.conv2d(x, w[0]).relu(), w[1]).relu().flatten(1) @ w[2].T).sum().item()
    # homogeneous of degree 1 in each of the 3 weight layers: sum_w theta dR/dtheta = R per layer
    assert synflow(net, (2, 7, 7)) == pytest.approx(3 * r, rel=1e-10)


# --- snip, grad_norm ------------------------------------------------------------------------

def test_snip_and_grad_norm_match_hand_gradients():
    from rcx_zerocost.proxies import LOSSES, grad_norm, snip

    net = _tiny_mlp()
    x, y = _xy()
    dw1, dw2 = _mlp_grads(net, x, y)
    w1, w2 = net[0].weight.detach(), net[2].weight.detach()
    assert snip(net, x, y, LOSSES["cross_entropy"]) == pytest.approx(
        float((w1 * dw1).abs().sum() + (w2 * dw2).abs().sum()), rel=1e-10)
    assert grad_norm(net, x, y, LOSSES["cross_entropy"]) == pytest.approx(
        float(dw1.pow(2).sum().sqrt() + dw2.pow(2).sum().sqrt()), rel=1e-10)
    assert all(p.grad is None for p in net.parameters())  # scoring leaves .grad alone


def test_the_loss_option_offers_exactly_the_losses_there_are():
    """The option's choices are declared without importing torch; they must stay the keys of
    ``proxies.LOSSES``."""
    from rcx_zerocost.evaluators import LOSS
    from rcx_zerocost.proxies import LOSSES

    assert LOSS.choices == tuple(LOSSES)


def test_the_mse_loss_is_against_one_hot_labels():
    from rcx_zerocost.proxies import LOSSES

    logits = torch.tensor([[1.0, 0.0], [0.5, 2.0]])
    # ((1-1)^2 + 0 + (0.5-0)^2 + (2-1)^2) / 4
    assert float(LOSSES["mse"](logits, torch.tensor([0, 1]))) == pytest.approx(1.25 / 4)


# --- grasp ----------------------------------------------------------------------------------

def _conv_bn_net() -> nn.Sequential:
    """Conv -> BN (train mode) -> ReLU -> GAP -> Linear, float64, seeded."""
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(3, 4)).double().train()
    with torch.no_grad():
        for p in (net[0].weight, net[0].bias, net[5].weight, net[5].bias):
            p.copy_(torch.randn(p.shape, generator=_gen(p.numel()), dtype=torch.float64))
    return net


def test_grasp_matches_a_finite_difference_hessian_vector_product():
    from rcx_zerocost.proxies import LOSSES, grasp, prunable_weights

    net = _conv_bn_net()
    x, y = _xy(6, (2, 5, 5))
    weights = prunable_weights(net)

    def grad_at(shift: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            for w, s in zip(weights, shift):
                w.add_(s)
        g = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
        with torch.no_grad():
            for w, s in zip(weights, shift):
                w.sub_(s)
        return [t.detach() for t in g]

    g = grad_at([torch.zeros_like(w) for w in weights])
    eps = 1e-5
    plus, minus = grad_at([eps * v for v in g]), grad_at([-eps * v for v in g])
    hg = [(a - b) / (2 * eps) for a, b in zip(plus, minus)]
    expected = sum(float((-w.detach() * h).sum()) for w, h in zip(weights, hg))
    assert grasp(net, x, y, LOSSES["cross_entropy"]) == pytest.approx(expected, rel=1e-6)


# --- fisher ---------------------------------------------------------------------------------

@pytest.mark.parametrize("per_weight", [True, False])
def test_fisher_matches_its_definition_channel_by_channel(per_weight):
    from rcx_zerocost.proxies import LOSSES, fisher

    net = _conv_bn_net()
    x, y = _xy(6, (2, 5, 5))
    conv, bn, lin = net[0], net[1], net[5]
    a1 = F.conv2d(x, conv.weight, conv.bias, padding=1)  # the same network, written out
    a1.retain_grad()
    a2 = F.linear(F.adaptive_avg_pool2d(F.relu(bn(a1)), 1).flatten(1), lin.weight, lin.bias)
    a2.retain_grad()
    F.cross_entropy(a2, y).backward()
    expected = 0.0
    for act, layer in ((a1, conv), (a2, lin)):
        count = layer.weight[0].numel() if per_weight else 1
        for c in range(act.shape[1]):
            per_image = [float((act[n, c] * act.grad[n, c]).sum().detach()) for n in range(act.shape[0])]
            expected += 0.5 * float(np.mean(np.square(per_image))) * count
    net.zero_grad()
    assert fisher(net, x, y, LOSSES["cross_entropy"], per_weight) == pytest.approx(expected, rel=1e-10)


# --- jacov ----------------------------------------------------------------------------------

def test_jacov_matches_an_explicit_per_image_jacobian_loop():
    from rcx_zerocost.proxies import jacov

    net = _conv_bn_net().eval()  # eval-mode BN: images independent, so a per-image loop is exact
    x, _ = _xy(5, (2, 4, 4))
    rows = []
    for i in range(x.shape[0]):
        xi = x[i:i + 1].clone().requires_grad_(True)
        net(xi).sum().backward()
        rows.append(xi.grad.flatten().numpy())
    corr = np.corrcoef(np.stack(rows))
    v = np.linalg.eig(corr)[0].real
    expected = -np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5))
    assert jacov(net, x) == pytest.approx(expected, rel=1e-8)


def test_jacov_of_a_net_that_ignores_its_input_is_nan():
    from rcx_zerocost.proxies import jacov

    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[1].weight.zero_()
    assert math.isnan(jacov(net, torch.randn(3, 1, 2, 2, generator=_gen())))


class _InputBlind(nn.Module):
    """A head whose output does not depend on its input (an nb201 cell cut off by ``none``)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], 3) * 1.0


def test_jacov_of_a_net_whose_output_never_sees_the_input_is_nan_not_an_error():
    from rcx_zerocost.proxies import jacov

    x = torch.randn(3, 1, 2, 2, generator=_gen())
    assert math.isnan(jacov(_InputBlind(), x))
    frozen = _InputBlind().requires_grad_(False)  # nothing in the graph needs a gradient
    assert math.isnan(jacov(frozen, x))


# --- zen ------------------------------------------------------------------------------------

def test_zen_matches_its_definition_with_the_running_variance_correction():
    from rcx_zerocost.proxies import zen

    conv_a, conv_b = nn.Conv2d(2, 3, 3, bias=False), nn.Conv2d(3, 4, 3, bias=False)
    net = nn.Sequential(conv_a, nn.BatchNorm2d(3), nn.ReLU(), conv_b, nn.BatchNorm2d(4)).train()
    with torch.no_grad():
        for conv in (conv_a, conv_b):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=_gen(conv.weight.numel())))
    g = _gen(3)
    x, noise = torch.randn(5, 2, 8, 8, generator=g), torch.randn(5, 2, 8, 8, generator=g)
    gamma = 0.01

    def forward(inp: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Train-mode BN by hand: batch mean and biased variance; returns the unbiased ones too."""
        variances = []
        h = inp
        for i, conv in enumerate((conv_a, conv_b)):
            h = F.conv2d(h, conv.weight)
            mean, var = h.mean((0, 2, 3), keepdim=True), h.var((0, 2, 3), unbiased=False, keepdim=True)
            n = h.numel() / h.shape[1]
            variances.append(var.flatten() * n / (n - 1))
            h = (h - mean) / torch.sqrt(var + 1e-5)
            h = h.relu() if i == 0 else h
        return h, variances

    with torch.no_grad():
        clean, v1 = forward(x)
        mixed, v2 = forward(x + gamma * noise)
    delta = float((clean - mixed).abs().sum((1, 2, 3)).mean())
    correction = sum(math.log(math.sqrt(float((0.9 * (0.9 * 1 + 0.1 * a) + 0.1 * b).mean()))) for a, b in zip(v1, v2))
    assert zen(net, x, noise, gamma) == pytest.approx(math.log(delta) + correction, rel=1e-5)


# --- zico -----------------------------------------------------------------------------------

@pytest.mark.parametrize("splits", [2, 3])
def test_zico_matches_a_per_split_gradient_loop(splits):
    from rcx_zerocost.proxies import LOSSES, zico

    net = _conv_bn_net()
    x, y = _xy(7, (2, 5, 5))
    per_layer: dict[str, list[np.ndarray]] = {"conv": [], "linear": []}
    for s in range(splits):  # the reference's boundaries
        a, b = s * 7 // splits, (s + 1) * 7 // splits
        net.zero_grad()
        F.cross_entropy(net(x[a:b]), y[a:b]).backward()
        per_layer["conv"].append(net[0].weight.grad.flatten().numpy().copy())
        per_layer["linear"].append(net[5].weight.grad.flatten().numpy().copy())
    net.zero_grad()
    expected = 0.0
    for grads in per_layer.values():
        g = np.array(grads)
        std, mean_abs = np.std(g, axis=0), np.mean(np.abs(g), axis=0)
        nz = np.nonzero(std)[0]
        expected += np.log(np.sum(mean_abs[nz] / std[nz]))
    assert zico(net, x, y, LOSSES["cross_entropy"], splits) == pytest.approx(expected, rel=1e-8)


# --- the evaluators -------------------------------------------------------------------------

def _dataset(n: int = 40, size: int = 16) -> ImageDataset:
    g = _gen(5)
    return ImageDataset("t", torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (n,), generator=g), torch.zeros(1, 3, size, size, dtype=torch.uint8),
                        torch.zeros(1, dtype=torch.long), [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3)


def _evaluator(registry, name: str, space, seed: int = 0, **options):
    cls = registry.entries["evaluator"][name].obj
    ev = cls({"batch_size": 16, **options} if any(o.name == "batch_size" for o in cls.options) else options)
    ev.prepare(RunContext(_dataset(), space, torch.device("cpu"), seed))
    return ev


def _score(ev, space, arch, seed: int) -> float | None:
    return ev.evaluate(EvalContext(arch, space.describe(arch, (3, 16, 16)), seed, torch.device("cpu"))).metrics["score"]


def test_all_eight_register_with_the_distribution(registry):
    for name in NAMES:
        entry = registry.entries["evaluator"][name]
        assert entry.dist == "rcx-zerocost" and entry.obj.__module__ == "rcx_zerocost.evaluators"
        assert next(m for m in entry.obj.metrics if m.name == "score").higher_is_better


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_deterministic_and_independent_of_evaluation_order(registry, name):
    space = NB201Space(channels=2, cells=1)
    a = space.from_id("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|")
    b = space.from_id("|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|")
    first = _evaluator(registry, name, space)
    forward = [_score(first, space, a, 11), _score(first, space, b, 12)]
    second = _evaluator(registry, name, space)
    backward = [_score(second, space, b, 12), _score(second, space, a, 11)][::-1]
    assert forward == backward and all(v is not None and math.isfinite(v) for v in forward)
    assert _score(second, space, a, 13) != forward[0]  # the weights do come from the seed


def test_proxies_with_equal_batch_sizes_share_the_batch_and_the_plan_seed_draws_it(registry):
    space = KsdSpace(channels=4, layers=2)
    snip, zico = _evaluator(registry, "snip", space), _evaluator(registry, "zico", space)
    assert torch.equal(snip.batch.index, zico.batch.index)
    assert not torch.equal(snip.batch.index, _evaluator(registry, "snip", space, seed=1).batch.index)


def test_a_non_finite_trial_makes_the_evaluation_degenerate_with_its_reason(registry, monkeypatch):
    from rcx_zerocost import proxies

    space = KsdSpace(channels=4, layers=2)
    ev = _evaluator(registry, "jacov", space, trials=2)
    calls = iter([1.5, math.nan])
    monkeypatch.setattr(proxies, "jacov", lambda model, x: next(calls))
    arch = space.from_id("k3-3_s1-1_d1-1")
    result = ev.evaluate(EvalContext(arch, space.describe(arch, (3, 16, 16)), 0, torch.device("cpu")))
    assert result.status == "degenerate" and result.metrics["score"] is None
    assert result.trials == [{"score": 1.5}, {"score": None}]
    assert "nan in trial 1" in result.extra["degenerate"] and "Jacobian" in result.extra["degenerate"]


def test_a_batch_larger_than_the_training_subset_is_a_plan_problem(registry):
    zico = registry.entries["evaluator"]["zico"].obj({"batch_size": 64, "splits": 80})
    assert {p[0] for p in zico.check_plan({"train_size": 50})} == {"batch_size", "splits"}
    assert registry.entries["evaluator"]["zen"].obj({}).check_plan({"train_size": 10}) == []


PLAN = """
seed = 0
device = "cpu"
output = "{output}"
[dataset]
name = "synthetic"
n_train = 40
n_test = 10
image_size = 16
[space]
name = "{space}"
{space_options}
[sampler]
kind = "random"
n = 2
valid_only = true
""" + "".join(f"[evaluators.{n}]\n" + ("" if n in ("synflow", "zen") else "batch_size = 16\n") for n in NAMES)


@pytest.mark.parametrize("space,space_options",
                         [("nb201", "channels = 2\ncells = 1"), ("ksd", "channels = 4\nlayers = 2")])
def test_a_plan_with_every_proxy_runs_and_lands_in_the_store(tmp_path, registry, space, space_options):
    plan = parse_plan(PLAN.format(output=tmp_path / "zc.db", space=space, space_options=space_options), registry)
    store = Store.open(plan.output)
    run_id = Runner(plan, registry).run(store)
    rows = store.evaluations(run_id)
    versions = store.run(run_id).versions
    store.close()
    assert versions["rcx-zerocost"] == "0.1.0"
    assert sorted(r["evaluator"] for r in rows) == sorted(NAMES * 2)
    for r in rows:
        assert r["status"] in ("done", "degenerate"), (r["evaluator"], r["error"])
        assert r["metrics"]["params"] > 0 and r["metrics"]["seconds"] >= 0
        if r["status"] == "done":
            assert math.isfinite(r["metrics"]["score"])
    assert sum(r["status"] == "done" for r in rows) >= len(NAMES)
