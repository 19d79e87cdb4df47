"""NAS-Bench-201's 3x3 average pooling (rcx.nn.pool.AvgPool3x3) is PyTorch's to the bit:
forward, backward and double backward, on the shapes the benchmark uses and on edge cases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rcx.nn.pool import AvgPool3x3

REFERENCE = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


@pytest.mark.parametrize("shape",
                         [(4, 16, 32, 32), (3, 8, 8, 8), (2, 3, 1, 1), (2, 3, 1, 5), (2, 2, 2, 7), (1, 1, 3, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_backward_and_double_backward_are_bit_identical(shape, dtype):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=g, dtype=dtype)
    x.view(-1)[::7] = -0.0
    up, up2 = torch.randn(shape, generator=g, dtype=dtype), torch.randn(shape, generator=g, dtype=dtype)
    results = []
    for pool in (REFERENCE, AvgPool3x3()):
        xr = x.clone().requires_grad_(True)
        v = up.clone().requires_grad_(True)
        out = pool(xr)
        (gx,) = torch.autograd.grad(out, xr, v, create_graph=True)
        (gv,) = torch.autograd.grad(gx, v, up2)  # d(backward)/d(grad): the forward again
        with torch.no_grad():
            plain = pool(x)
        results.append((out.detach(), gx.detach(), gv, plain))
    for ref, mine in zip(*results):
        assert torch.equal(ref, mine) and torch.equal(torch.signbit(ref), torch.signbit(mine))


def test_other_layouts_and_dtypes_use_pytorchs_kernel():
    x = torch.randn(2, 4, 6, 6)
    for variant in (x.contiguous(memory_format=torch.channels_last), x.bfloat16()):
        assert torch.equal(AvgPool3x3()(variant), REFERENCE(variant))
    assert isinstance(AvgPool3x3(), nn.AvgPool2d) and AvgPool3x3().extra_repr() == REFERENCE.extra_repr()
