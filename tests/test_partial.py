"""Partial-filter convs: the split is exact, the frozen slice never moves and costs no gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.nn.partial import PartialConv2d, learned_count, partialize
from rcx.nn.train import TrainConfig, train

from .test_train_loop import tiny_data

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _conv(**kw) -> nn.Conv2d:
    conv = nn.Conv2d(**kw)
    init_weights(conv, "default", generator(0, "conv"))
    return conv


@pytest.mark.parametrize("dim", ["out", "in"])
@pytest.mark.parametrize("kw", [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, dilation=2, padding=2, bias=False),
    dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6),
])
def test_partial_conv_with_random_rest_equals_the_original(dim, kw):
    conv = _conv(**kw)
    part = PartialConv2d(conv, 2, dim, "random")
    x = torch.randn(2, kw["in_channels"], 9, 9, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(part(x), conv(x), rtol=1e-5, atol=1e-5)
    assert torch.equal(part.full_weight(), conv.weight.detach())
    assert [n for n, _ in part.named_parameters()] == (["weight", "bias"] if part.bias is not None else ["weight"])


def test_zero_rest_outputs():
    conv = _conv(in_channels=4, out_channels=6, kernel_size=3, padding=1)
    x = torch.randn(2, 4, 5, 5)
    out = PartialConv2d(conv, 2, "out", "zero")(x)
    assert torch.equal(out[:, 2:], torch.zeros_like(out[:, 2:]))
    torch.testing.assert_close(out[:, :2], conv(x)[:, :2])
    part_in = PartialConv2d(conv, 1, "in", "zero")
    torch.testing.assert_close(part_in(x), nn.functional.conv2d(x[:, :1], conv.weight[:, :1], None, padding=1))


def test_learned_count_rounding():
    assert learned_count(64, 0.1, None) == 6  # 6.4
    assert learned_count(10, 0.25, None) == 3  # 2.5 rounds half up
    assert learned_count(10, 0.01, None) == 1  # at least one
    assert learned_count(10, None, 4) == 4 and learned_count(3, None, 4) == 3


def test_partialize_skips_fully_learned_and_rejects_grouped():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 1, 1))
    assert partialize(model, fraction=0.5) == ["0"]  # one output filter: nothing to freeze
    with pytest.raises(ValueError, match="groups=2"):
        partialize(nn.Sequential(nn.Conv2d(4, 8, 3, groups=2)), fraction=0.5)


@pytest.mark.parametrize("dim", ["out", "in"])
def test_frozen_slice_is_bit_identical_after_training_with_decay_and_momentum(dim):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 4))
    init_weights(model, "default", generator(0, "init"))
    partialize(model, fraction=0.25, dim=dim)
    parts = [m for m in model.modules() if isinstance(m, PartialConv2d)]
    assert len(parts) == 2
    frozen_before = [p.frozen_weight.clone() for p in parts]
    learned_before = [p.weight.detach().clone() for p in parts]
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    assert train(model, tiny_data(), cfg, seed=0).status == "done"
    for p, fb, lb in zip(parts, frozen_before, learned_before):
        assert not p.frozen_weight.requires_grad and p.frozen_weight.grad is None
        assert torch.equal(p.frozen_weight, fb)
        assert not torch.equal(p.weight, lb)
        assert p.weight.grad is not None


@pytest.mark.parametrize("dim", ["out", "in"])
@pytest.mark.parametrize("kw", [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, bias=False),
    dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6),
])
def test_one_conv_and_split_give_the_same_outputs_and_gradients(dim, kw):
    """The single convolution over the concatenated weight (the default) is the two-convolution
    forward, with the same input and learned-slice gradients and none for the frozen rest."""
    got = []
    for split in (True, False):
        part = PartialConv2d(_conv(**kw), 2, dim, "random")
        part.split = split
        x = torch.randn(2, kw["in_channels"], 9, 9, generator=torch.Generator().manual_seed(1), requires_grad=True)
        y = part(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        assert part.frozen_weight.grad is None
        got.append((y.detach(), x.grad, part.weight.grad, None if part.bias is None else part.bias.grad))
    for a, b in zip(*got):
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
