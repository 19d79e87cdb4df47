"""Layer specs: plain descriptions of layers that know their shapes, parameters and FLOPs.

A space turns an architecture into a list of specs; :func:`describe_stack` propagates an input
shape through them without building anything, and :func:`build_stack` turns them into an
``nn.Sequential``. Shapes are per image, ``(C, H, W)``.

FLOPs are multiply-accumulates per image (the fvcore/thop convention): a convolution counts
``C_out * H_out * W_out * C_in * k * k``; biases, ReLU, BatchNorm and pooling count 0.
Parameters are learnable tensors only (a BatchNorm's running statistics are buffers, not
parameters), so ``params()`` equals ``sum(p.numel() for p in module().parameters())``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rcx.api.arch import ArchInfo, LayerInfo

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, int, int]  # (C, H, W)


def conv_out(size: int, kernel: int, stride: int = 1, dilation: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis (PyTorch's formula).

    Returns a value < 1 when the (padded) input is shorter than the dilated kernel."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True, slots=True)
class ConvSpec:
    """``nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation, bias=bias)``, square kernel."""

    kind: ClassVar[str] = "conv"
    in_ch: int
    out_ch: int
    kernel: int
    stride: int = 1
    dilation: int = 1
    padding: int = 0
    bias: bool = True

    @property
    def label(self) -> str:
        text = f"conv k{self.kernel} s{self.stride} d{self.dilation}"
        return text + (f" p{self.padding}" if self.padding else "")

    def out_shape(self, in_shape: Shape) -> Shape:
        _, h, w = in_shape
        k, s, d, p = self.kernel, self.stride, self.dilation, self.padding
        return self.out_ch, conv_out(h, k, s, d, p), conv_out(w, k, s, d, p)

    def params(self) -> int:
        return self.out_ch * self.in_ch * self.kernel * self.kernel + (self.out_ch if self.bias else 0)

    def flops(self, in_shape: Shape) -> int:
        c, h, w = self.out_shape(in_shape)
        return c * h * w * self.in_ch * self.kernel * self.kernel

    def too_small(self, in_shape: Shape) -> str:
        """Why the output would be smaller than 1x1 at ``in_shape``, or "" if it fits."""
        _, h, w = in_shape
        reach = self.dilation * (self.kernel - 1) + 1
        if min(h, w) + 2 * self.padding >= reach:
            return ""
        size = f"input {h}x{w}" + (f" (padded {h + 2 * self.padding}x{w + 2 * self.padding})" if self.padding else "")
        what = f"the dilated kernel {reach}" if self.dilation > 1 else f"the kernel {reach}"
        return f"{size} is smaller than {what}"

    def info(self, in_shape: Shape) -> LayerInfo:
        return LayerInfo(
            "conv", self.out_shape(in_shape), in_channels=self.in_ch, out_channels=self.out_ch, kernel=self.kernel,
            stride=self.stride, dilation=self.dilation, padding=self.padding, params=self.params(),
            flops=self.flops(in_shape),
        )

    def module(self) -> nn.Module:
        from torch import nn

        return nn.Conv2d(self.in_ch, self.out_ch, self.kernel, stride=self.stride, padding=self.padding,
                         dilation=self.dilation, bias=self.bias)


@dataclass(frozen=True, slots=True)
class ReLUSpec:
    """``nn.ReLU()``: shape-preserving, no parameters."""

    kind: ClassVar[str] = "relu"

    @property
    def label(self) -> str:
        return "relu"

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def params(self) -> int:
        return 0

    def flops(self, in_shape: Shape) -> int:
        return 0

    def too_small(self, in_shape: Shape) -> str:
        return ""

    def info(self, in_shape: Shape) -> LayerInfo:
        return LayerInfo("relu", in_shape)

    def module(self) -> nn.Module:
        from torch import nn

        return nn.ReLU()


@dataclass(frozen=True, slots=True)
class BNSpec:
    """``nn.BatchNorm2d(ch)``: affine weight and bias (2 * ch parameters)."""

    kind: ClassVar[str] = "bn"
    ch: int

    @property
    def label(self) -> str:
        return f"bn {self.ch}"

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def params(self) -> int:
        return 2 * self.ch

    def flops(self, in_shape: Shape) -> int:
        return 0

    def too_small(self, in_shape: Shape) -> str:
        return ""

    def info(self, in_shape: Shape) -> LayerInfo:
        return LayerInfo("bn", in_shape, in_channels=self.ch, out_channels=self.ch, params=self.params())

    def module(self) -> nn.Module:
        from torch import nn

        return nn.BatchNorm2d(self.ch)


@dataclass(frozen=True, slots=True)
class MaxPoolSpec:
    """``nn.MaxPool2d(kernel, stride)`` without padding; ``kernel``/``stride`` also fill LayerInfo."""

    kind: ClassVar[str] = "maxpool"
    kernel: int = 2
    stride: int = 2

    @property
    def label(self) -> str:
        return f"maxpool k{self.kernel} s{self.stride}"

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = in_shape
        return c, conv_out(h, self.kernel, self.stride), conv_out(w, self.kernel, self.stride)

    def params(self) -> int:
        return 0

    def flops(self, in_shape: Shape) -> int:
        return 0

    def too_small(self, in_shape: Shape) -> str:
        _, h, w = in_shape
        return "" if min(h, w) >= self.kernel else f"input {h}x{w} is smaller than the kernel {self.kernel}"

    def info(self, in_shape: Shape) -> LayerInfo:
        return LayerInfo("maxpool", self.out_shape(in_shape), kernel=self.kernel, stride=self.stride)

    def module(self) -> nn.Module:
        from torch import nn

        return nn.MaxPool2d(self.kernel, self.stride)


LayerSpec = ConvSpec | ReLUSpec | BNSpec | MaxPoolSpec


def _check_channels(spec: LayerSpec, name: str, channels: int) -> None:
    expected = spec.in_ch if isinstance(spec, ConvSpec) else spec.ch if isinstance(spec, BNSpec) else channels
    if expected != channels:
        raise ValueError(f"{name} ({spec.label}) expects {expected} input channels, got {channels}")


def describe_stack(specs: Sequence[LayerSpec], in_shape: Shape, names: Sequence[str] | None = None) -> ArchInfo:
    """Propagate ``in_shape`` (C, H, W) through ``specs`` and total their params and FLOPs.

    ``names`` label the specs in the reason of an invalid stack (default ``layer 1``,
    ``layer 2``, ... by position), e.g. ``"layer 3 (conv k9 s3 d3): input 5x5 is smaller than
    the dilated kernel 25"``. An invalid stack keeps its total ``params`` (they do not depend on
    the input) and the ``layers`` that fit; its ``out_shape`` is None and its FLOPs are 0.
    A channel mismatch between consecutive specs is a programming error (``ValueError``).
    """
    in_shape = tuple(int(v) for v in in_shape)  # type: ignore[assignment]
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape must be (C, H, W) with positive sizes, got {in_shape}")
    names = names or [f"layer {i + 1}" for i in range(len(specs))]
    if len(names) != len(specs):
        raise ValueError(f"{len(names)} names for {len(specs)} layer specs")
    params = sum(spec.params() for spec in specs)
    layers: list[LayerInfo] = []
    shape: Shape = in_shape
    for spec, name in zip(specs, names):
        _check_channels(spec, name, shape[0])
        reason = spec.too_small(shape)
        if reason:
            return ArchInfo(False, f"{name} ({spec.label}): {reason}", in_shape=in_shape, params=params,
                            layers=tuple(layers))
        layer = spec.info(shape)
        layers.append(layer)
        shape = layer.out_shape
    features = shape[0] * shape[1] * shape[2]
    return ArchInfo(
        True, in_shape=in_shape, out_shape=shape, params=params, flops=sum(layer.flops for layer in layers),
        features=features, ratio=features / (in_shape[0] * in_shape[1] * in_shape[2]), layers=tuple(layers),
    )


def build_stack(specs: Sequence[LayerSpec]) -> nn.Sequential:
    """The specs as an ``nn.Sequential`` mapping (B, C, H, W) -> (B, C', H', W'), PyTorch-default init."""
    from torch import nn

    return nn.Sequential(*(spec.module() for spec in specs))
