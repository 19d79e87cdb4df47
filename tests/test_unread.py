"""rcx.nn.unread: skipping convolution outputs the next convolution never reads changes no output."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn

from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.nn.unread import skip_unread_outputs
from rcx.spaces.ksd import KsdSpace


def _pairs(model: nn.Module) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(m.stride, m.dilation) for m in model.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("dtype,channels_last", [(torch.float32, False), (torch.bfloat16, True)])
def test_ksd_outputs_bit_identical_with_unread_rows_skipped(dtype, channels_last):
    space = KsdSpace(channels=8)
    ids = ["k3-5-9_s1-3-3_d1-3-3", "k5-3-9_s1-1-3_d1-1-3", "k9-5-7_s1-3-2_d1-3-2", "k7-7-9_s2-1-3_d3-1-3",
           "k5-5-3_s2-3-2_d2-3-3", "k3-3-3_s2-2-2_d2-2-2", "k3-5-3_s1-2-1_d1-1-1"]
    x = torch.randn(4, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    rewritten = []
    for arch_id in ids:
        arch = space.from_id(arch_id)
        full = init_weights(space.build(arch, (3, 96, 96)), "default", generator(1, arch_id)).to(memory_format=fmt)
        pruned = init_weights(space.build(arch, (3, 96, 96)), "default", generator(1, arch_id)).to(memory_format=fmt)
        rewritten.append(skip_unread_outputs(pruned))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            xi = x.contiguous(memory_format=fmt)
            a, b = full(xi), pruned(xi)
        assert a.shape == b.shape and torch.equal(a, b), arch_id
        assert sum(p.numel() for p in pruned.parameters()) == sum(p.numel() for p in full.parameters())
    assert rewritten == [2, 1, 2, 1, 1, 2, 0]


def test_rewrites_strides_and_dilations_from_the_output_backwards():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=3, dilation=3), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, stride=(2, 1), dilation=(2, 3)))
    assert skip_unread_outputs(model) == 2
    assert _pairs(model) == [((3, 3), (1, 1)), ((2, 1), (1, 1)), ((1, 1), (1, 3))]


@pytest.mark.parametrize("between", [nn.BatchNorm2d(4), nn.AvgPool2d(1), nn.Dropout()])
def test_leaves_pairs_with_position_mixing_modules_or_padding_alone(between):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), between, nn.Conv2d(4, 4, 3, stride=2, dilation=2))
    assert skip_unread_outputs(model) == 0
    padded = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, dilation=2, padding=1))
    assert skip_unread_outputs(padded) == 0 and _pairs(padded)[0] == ((1, 1), (1, 1))
    assert skip_unread_outputs(nn.Conv2d(3, 4, 3)) == 0
    shared = nn.Conv2d(4, 4, 3, stride=2, dilation=2)  # runs twice: as a producer and as a consumer
    assert skip_unread_outputs(nn.Sequential(nn.Conv2d(3, 4, 3), shared, nn.ReLU(), shared)) == 0
    assert shared.stride == (2, 2)


def test_every_ksd_stride_dilation_pair_keeps_the_output():
    """Every (stride, dilation) of the consumer and stride of the producer in ksd's range, float32."""
    x = torch.randn(2, 3, 41, 41, generator=torch.Generator().manual_seed(2))
    for s0, s1, d1 in itertools.product((1, 2, 3), repeat=3):
        torch.manual_seed(0)
        full = nn.Sequential(nn.Conv2d(3, 4, 3, stride=s0), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=s1, dilation=d1))
        pruned = copy.deepcopy(full)
        skip_unread_outputs(pruned)
        with torch.inference_mode():
            assert torch.equal(full(x), pruned(x)), (s0, s1, d1)
