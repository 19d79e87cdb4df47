"""The shared training loop: augmentation, schedule, divergence, cancel, determinism."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rcx.api.device import Normalizer
from rcx.api.evaluator import Cancelled
from rcx.nn.train import (
    CHECK_EVERY,
    DeviceData,
    EpochDraws,
    TrainConfig,
    TrainHooks,
    cosine_lr,
    crop_flip,
    train,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def tiny_data(n: int = 64, n_val: int = 32, seed: int = 0) -> DeviceData:
    """Learnable toy task: the class is which quadrant holds a bright square."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n + n_val,), generator=g)
    x = torch.randint(0, 60, (n + n_val, 3, 16, 16), generator=g, dtype=torch.uint8)
    for q in range(4):
        r, c = divmod(q, 2)
        x[y == q, :, 8 * r + 2: 8 * r + 6, 8 * c + 2: 8 * c + 6] = 250
    norm = Normalizer.create((0.3,) * 3, (0.3,) * 3, torch.device("cpu"))
    return DeviceData(x[:n], y[:n], x[n:], y[n:], norm, 4)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(8), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Linear(8 * 16, 4))


def test_crop_flip_matches_per_image_reference():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (6, 3, 8, 10), generator=g, dtype=torch.uint8)
    dy = torch.tensor([0, 8, 4, 3, 0, 8])
    dx = torch.tensor([0, 8, 4, 1, 8, 0])
    flip = torch.tensor([False, True, False, True, True, False])
    out = crop_flip(x, dy, dx, flip)
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(6):
        ref = padded[i, :, dy[i]: dy[i] + 8, dx[i]: dx[i] + 10]
        ref = ref.flip(-1) if flip[i] else ref
        assert torch.equal(out[i], ref)
    assert out.dtype == torch.uint8
    assert torch.equal(crop_flip(x, torch.full((6,), 4), torch.full((6,), 4), torch.zeros(6, dtype=torch.bool)), x)


def test_cosine_schedule_endpoints():
    assert cosine_lr(0, 100, 0.1, 0.001) == pytest.approx(0.1)
    assert cosine_lr(50, 100, 0.1, 0.001) == pytest.approx(0.0505)
    assert cosine_lr(100, 100, 0.1, 0.001) == pytest.approx(0.001)
    assert all(cosine_lr(s, 100, 0.1, 0.0) >= cosine_lr(s + 1, 100, 0.1, 0.0) for s in range(100))


def test_training_learns_and_reports_one_point_per_epoch():
    data = tiny_data()
    points = []
    out = train(tiny_model(), data, TrainConfig(epochs=6, batch_size=16, lr=0.05, min_lr=0.0), seed=3,
                hooks=TrainHooks(point=lambda s, e, m: points.append((s, e, m))))
    assert out.status == "done" and out.steps == 24 and out.epochs == 6
    assert [p[0] for p in points] == [4, 8, 12, 16, 20, 24]
    assert all("val_acc" in m and "train_loss" in m and "lr" in m for _, _, m in points)
    assert points[-1][2]["train_loss"] < points[0][2]["train_loss"]
    assert out.val_acc == points[-1][2]["val_acc"] and out.val_acc > 0.5  # chance is 0.25
    # TSE (Ru et al.): the sum of the epochs' mean losses, so above six times the last one here
    assert out.tse == pytest.approx(sum(m["train_loss"] for _, _, m in points), rel=1e-6)
    assert out.tse > 6 * out.train_loss


def test_step_budget_and_eval_every():
    data = tiny_data()
    points = []
    out = train(tiny_model(), data, TrainConfig(steps=10, batch_size=16, eval_every=0), seed=0,
                hooks=TrainHooks(point=lambda s, e, m: points.append((s, e, m))))
    assert out.steps == 10 and out.epochs == pytest.approx(2.5)
    assert [p[0] for p in points] == [4, 8, 10]
    # the half epoch at the end counts by its fraction: its mean loss times 2 steps / 4 per epoch
    losses = [m["train_loss"] for _, _, m in points]
    assert out.tse == pytest.approx(losses[0] + losses[1] + losses[2] * 2 / 4, rel=1e-6)
    assert ["val_acc" in m for _, _, m in points] == [False, False, True]


def test_same_seed_same_result_other_seed_differs():
    data = tiny_data()
    runs = [train(tiny_model(), data, TrainConfig(epochs=2, batch_size=16), seed=s) for s in (7, 7, 8)]
    assert runs[0].curve == runs[1].curve
    assert runs[0].curve != runs[2].curve


class _NanAt(nn.Module):
    """Returns NaN logits from the ``at``-th forward call in train mode on."""

    def __init__(self, inner: nn.Module, at: int) -> None:
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.at:
                out = out * math.nan
        return out


@pytest.mark.parametrize("at", [3, CHECK_EVERY + 2])
def test_non_finite_loss_is_diverged_with_its_step(at):
    out = train(_NanAt(tiny_model(), at), tiny_data(), TrainConfig(epochs=20, batch_size=16), seed=0)
    assert out.status == "diverged" and out.diverged_step == at
    assert out.val_acc is None and out.train_loss is None
    assert out.steps < at + CHECK_EVERY  # stopped at the next check, not at the end


def test_cancel_between_steps():
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        train(tiny_model(), tiny_data(), TrainConfig(epochs=5, batch_size=16), seed=0,
              hooks=TrainHooks(check_cancel=check))
    assert len(calls) == 3


def test_everything_frozen_is_one_clear_error():
    model = tiny_model().requires_grad_(False)
    with pytest.raises(ValueError, match="every parameter of the model is frozen"):
        train(model, tiny_data(), TrainConfig(epochs=1), seed=0)


def _layout_models() -> list[tuple[str, nn.Module]]:
    """What the training evaluators train: NAS-Bench-201 cells (every op), a ResNet, its frozen
    folded LC version and its partial-filter version, each with rcx's classifier head."""
    from rcx.api.init import init_weights
    from rcx.api.seeding import generator
    from rcx.nn.lc import freeze_spatial, set_folded
    from rcx.nn.partial import partialize
    from rcx.nn.resnet_lc import cifar_resnet
    from rcx.nn.train import Classifier
    from rcx.spaces.nb201 import NB201Space

    space = NB201Space(channels=8, cells=1)
    out: list[tuple[str, nn.Module]] = []
    for arch_id in ("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_1x1~2|",
                    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"):
        features = space.build(space.from_id(arch_id), (3, 16, 16))
        out.append((arch_id, Classifier(features, features(torch.zeros(1, 3, 16, 16)).flatten(1).shape[1], 4)))
    out.append(("resnet", Classifier(cifar_resnet(8, 4, 0, 3), 16, 4)))
    lc = Classifier(cifar_resnet(8, 4, 4, 3), 16, 4)
    set_folded(lc, True)
    out.append(("lc frozen", lc))
    partial = Classifier(cifar_resnet(8, 4, 0, 3), 16, 4)
    out.append(("partial", partial))
    for _, model in out:
        init_weights(model, "default", generator(0, "init"))
    freeze_spatial(lc)
    partialize(partial.features, fraction=0.25)
    return out


def _one_step(model: nn.Module, channels_last: bool, dtype: torch.dtype):
    """Logits, loss and every learnable parameter's gradient of one training step on 32 images."""
    import copy

    net = copy.deepcopy(model).to(dtype).train()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    draws = EpochDraws(32, torch.Generator().manual_seed(0), torch.device("cpu"))
    x, y = draws.batch(tiny_data(32), slice(0, 32), channels_last=channels_last)
    assert x.is_contiguous(memory_format=torch.channels_last) == channels_last
    logits = net(x.to(dtype))
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return logits.detach(), loss.detach(), [p.grad for p in net.parameters() if p.requires_grad]


@pytest.mark.parametrize("index", range(5))
def test_channels_last_training_step_is_the_same_function(index):
    """``TrainConfig.channels_last`` (the evaluators' ``layout = "channels_last"``) changes the
    memory layout, not the function.

    In float64 one training step's logits, loss and every gradient equal the contiguous model's
    to 1e-9 of each tensor's scale. In float32 logits and loss agree to 1e-4; gradients to 1e-2
    of the largest gradient only: the kernels sum in another order, and a pre-activation that
    rounds to the other side of a ReLU's kink (one of ~30,000 in the frozen LC model) changes
    that element's gradient, which BatchNorm's backward spreads over its channel."""
    label, model = _layout_models()[index]
    for dtype, rtol, grad_tol in ((torch.float64, 1e-9, 1e-9), (torch.float32, 1e-4, 1e-2)):
        (l0, s0, g0), (l1, s1, g1) = (_one_step(model, cl, dtype) for cl in (False, True))
        assert [g is None for g in g0] == [g is None for g in g1] and any(g is not None for g in g0)
        torch.testing.assert_close(l1, l0, rtol=rtol, atol=rtol * float(l0.abs().max()))
        torch.testing.assert_close(s1, s0, rtol=rtol, atol=0.0)
        scale = max(float(g.abs().max()) for g in g0 if g is not None)
        for a, b in zip(g0, g1):
            if a is not None:
                torch.testing.assert_close(b, a, rtol=0.0, atol=grad_tol * scale, msg=lambda m: f"{label}: {m}")
