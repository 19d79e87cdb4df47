"""rcx.nn.int8: a Conv2d/ReLU stack run by PyTorch's quantized kernels against the float stack."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.nn.int8 import QParams, quantize_stack
from rcx.nn.unread import skip_unread_outputs
from rcx.spaces.ksd import KsdSpace

pytestmark = pytest.mark.skipif("x86" not in torch.backends.quantized.supported_engines,
                                reason="needs PyTorch's x86 quantized engine")

# Tolerance of int8 against float32 features, relative to the largest float32 feature: one uint8
# step is 1/255 (0.4 %) of a tensor's range and one int8 weight step 1/127 of a channel's largest
# weight, rounded to the nearest (half a step); sums over k*k*C_in products partly cancel, and
# three layers compound it: seed 001's 30 networks measured 0.8-1.7 % at 96x96 (BENCHMARKS.md,
# "int8 features"), the stacks here 1.2-2.0 % (largest and root-mean-square alike: most ReLU
# outputs are a few steps from 0). A wrong zero point on the input moves them by 50 % or more.
MAX_ERR = 0.04
RMS_ERR = 0.04


def errors(q: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(max |q - ref| / max |ref|, ||q - ref|| / ||ref||)."""
    diff = (q - ref).float()
    return float(diff.abs().max() / ref.abs().max()), float(diff.norm() / ref.norm())


def ksd(arch_id: str, seed: int = 0, channels: int = 16) -> nn.Sequential:
    space = KsdSpace(channels=channels)
    model = space.build(space.from_id(arch_id), (3, 48, 48))
    return init_weights(model, "default", generator(seed, "trial", 0)).eval()


def images(n: int, seed: int) -> torch.Tensor:
    """Normalised-looking inputs (mean 0, std 1, a little structure), channels-last."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 48, 48, generator=g) + torch.linspace(-1, 1, 48).view(1, 1, 1, 48)
    return x.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("arch_id", ["k3-5-3_s1-1-1_d1-1-1", "k7-3-3_s1-2-1_d3-2-1", "k5-3-3_s2-1-3_d1-3-1"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_features_close_to_float32(arch_id, dtype):
    """Calibrated on one batch (float32 or bf16), the int8 stack reproduces the float stack on
    that batch and on another one, strides and dilations included."""
    model = ksd(arch_id).to(memory_format=torch.channels_last)
    calib, other = images(16, 1), images(16, 2)
    q = quantize_stack(model, calib, dtype)
    with torch.inference_mode():
        for x in (calib, other):
            ref = model(x)
            out = q(x)
            assert out.dtype == torch.float32 and out.shape == ref.shape
            worst, rms = errors(out, ref)
            assert worst <= MAX_ERR and rms <= RMS_ERR, (worst, rms)


def test_unread_outputs_skipped_before_quantizing():
    """The rewritten stack (rcx.nn.unread) quantizes like any other, and its int8 output matches
    the full float stack's."""
    model = ksd("k3-3-3_s1-2-1_d1-2-1")
    x = images(8, 3)
    with torch.inference_mode():
        ref = model(x)
    assert skip_unread_outputs(model) == 1
    out = quantize_stack(model, x)(x)
    assert errors(out, ref)[0] <= MAX_ERR


def test_conv_without_relu_padding_and_groups():
    """A convolution without ReLU gets an affine (signed) output range; padding and groups pass."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2, dilation=2))
    x = images(4, 4)
    with torch.inference_mode():
        ref = model(x)
    assert ref.min() < 0  # the last layer's output is signed
    worst, rms = errors(quantize_stack(model, x)(x), ref)
    assert worst <= MAX_ERR and rms <= RMS_ERR


OTHER_ENGINE = next((e for e in ("fbgemm", "onednn", "qnnpack") if e in torch.backends.quantized.supported_engines),
                    None)
"""A quantized engine other than the one int8 features use, to see that it is restored."""


@pytest.fixture
def other_engine():
    """The process's quantized engine set to :data:`OTHER_ENGINE` (x86, the default, would not
    show a missing restore), and set back afterwards."""
    if OTHER_ENGINE is None:
        pytest.skip("no other quantized engine in this PyTorch build")
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = OTHER_ENGINE
    yield OTHER_ENGINE
    torch.backends.quantized.engine = before


def test_deterministic_and_engine_restored(other_engine):
    model = ksd("k5-3-3_s1-2-1_d1-1-1")
    x = images(8, 5)
    a = quantize_stack(model, x)(x)
    assert torch.backends.quantized.engine == other_engine
    b = quantize_stack(model, x)(x)
    assert torch.equal(a, b)
    assert torch.backends.quantized.engine == other_engine


def test_the_engine_stays_x86_until_the_last_of_overlapping_users_leaves(other_engine):
    """Two threads in int8 code at once (their entries and exits interleaved, as here): the first
    to leave must not put the other engine back under the second, which is still computing."""
    from rcx.nn.int8 import ENGINE, _quantized

    first, second = _quantized(), _quantized()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert torch.backends.quantized.engine == ENGINE
    second.__exit__(None, None, None)
    assert torch.backends.quantized.engine == other_engine


def test_other_modules_refused():
    with pytest.raises(ValueError, match="Conv2d and ReLU.*BatchNorm2d"):
        quantize_stack(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()), images(2, 0))
    with pytest.raises(ValueError, match="Conv2d and ReLU"):
        quantize_stack(nn.Conv2d(3, 4, 3), images(2, 0))


def test_qparams_cover_zero_exactly():
    q = QParams.of_range(-1.0, 3.0)
    assert q.scale == pytest.approx(4 / 255) and q.zero_point == round(1 / q.scale)
    x = torch.quantize_per_tensor(torch.tensor([0.0, -1.0, 3.0, 9.0]), q.scale, q.zero_point, torch.quint8)
    assert x.dequantize()[0] == 0.0  # zero is exact
    assert x.dequantize()[3] == pytest.approx(3.0, abs=q.scale)  # beyond the range: saturates
    assert QParams.of_range(0.5, 2.0) == QParams(2.0 / 255, 0)  # the range always holds 0
    assert QParams.of_range(0.0, 0.0) == QParams(1.0, 0)  # a dead layer


def test_headroom_widens_every_convolution_range():
    model = ksd("k5-3-3_s1-2-1_d1-1-1")
    x = images(8, 6)
    plain, wide = quantize_stack(model, x), quantize_stack(model, x, headroom=2.0)
    assert wide.input_q == plain.input_q  # the input's range is the data's
    for a, b in zip(plain.layers, wide.layers, strict=True):
        assert b.scale == pytest.approx(2 * a.scale) and b.zero_point == a.zero_point == 0  # ReLU outputs


class Doubled(nn.Sequential):
    """A stack with a forward of its own: not the plain composition of its modules."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


class Scaled(nn.Conv2d):
    """A convolution with a forward of its own (its weights scaled at run time)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, 0.5 * self.weight, self.bias)


@pytest.mark.parametrize("model", [
    Doubled(nn.Conv2d(3, 4, 3), nn.ReLU()),
    nn.Sequential(Scaled(3, 4, 3), nn.ReLU()),
    nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular"), nn.ReLU()),
    nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"), nn.ReLU()),
], ids=["sequential-subclass", "conv-subclass", "circular-padding", "same-padding"])
def test_stacks_the_int8_kernels_would_change_or_fail_on_are_not_quantizable(model):
    """dtype = "auto" quantizes whatever :func:`quantizable` accepts: a module with a forward of
    its own would silently become another network, and padding the quantized convolution cannot
    do would fail the evaluation; both stay in float, and quantize_stack refuses them."""
    from rcx.nn.int8 import quantizable

    assert not quantizable(model)
    with pytest.raises(ValueError, match="int8 features need"):
        quantize_stack(model, images(2, 0))


def test_plain_stacks_with_identity_and_explicit_zero_padding_are_quantizable():
    from rcx.nn.int8 import quantizable

    assert quantizable(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Identity()))
    assert quantizable(ksd("k5-3-3_s1-2-1_d1-1-1"))
    assert not quantizable(nn.Sequential(nn.ReLU(), nn.Identity()))  # no convolution
