"""The shared training loop: augmentation, schedule, divergence, cancel, determinism."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rcx.api.device import Normalizer
from rcx.api.evaluator import Cancelled
from rcx.nn.train import CHECK_EVERY, DeviceData, TrainConfig, TrainHooks, cosine_lr, crop_flip, train

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


def test_step_budget_and_eval_every():
    data = tiny_data()
    points = []
    out = train(tiny_model(), data, TrainConfig(steps=10, batch_size=16, eval_every=0), seed=0,
                hooks=TrainHooks(point=lambda s, e, m: points.append((s, e, m))))
    assert out.steps == 10 and out.epochs == pytest.approx(2.5)
    assert [p[0] for p in points] == [4, 8, 10]
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
