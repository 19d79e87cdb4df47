"""Shapes, parameters and FLOPs of an arbitrary module, computed on the meta device.

Spaces whose models are not layer-spec stacks (``resnet_lc``, ``torchvision``) describe an
architecture by building it on the ``meta`` device (no memory, no init cost) and running one
meta forward pass with hooks on the convolutions and linear layers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rcx.api.arch import ArchInfo, LayerInfo


def _first(v: int | tuple[int, ...] | str) -> int | None:
    return v[0] if isinstance(v, tuple) else (v if isinstance(v, int) else None)


def describe_module(build: Callable[[], nn.Module], in_shape: tuple[int, int, int]) -> ArchInfo:
    """Describe ``build()`` at ``in_shape`` (C, H, W): every conv/linear layer in call order with
    its output shape, parameters and multiply-accumulates per image; ``params`` counts all
    parameters; the output shape is the module's (C', H', W') (or (D, 1, 1) for (B, D) outputs)."""
    with torch.device("meta"):
        model = build()
    layers: list[LayerInfo] = []

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        per_image = out.numel() // out.shape[0]
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            layers.append(LayerInfo(
                "conv", (out.shape[1], out.shape[2], out.shape[3]), in_channels=m.in_channels,
                out_channels=m.out_channels, kernel=kh,
                stride=_first(m.stride), dilation=_first(m.dilation), padding=_first(m.padding),
                params=sum(p.numel() for p in m.parameters()), flops=per_image * (m.in_channels // m.groups) * kh * kw,
            ))
        elif isinstance(m, nn.Linear):  # the hooks are on Conv2d and Linear only
            layers.append(LayerInfo("linear", (m.out_features, 1, 1), in_channels=m.in_features,
                                    out_channels=m.out_features, params=sum(p.numel() for p in m.parameters()),
                                    flops=per_image * m.in_features))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        out = model(torch.empty((1, *in_shape), device="meta"))
    for h in handles:
        h.remove()
    out_shape = tuple(out.shape[1:]) if out.dim() == 4 else (int(out.shape[1]), 1, 1)
    features = out_shape[0] * out_shape[1] * out_shape[2]
    return ArchInfo(
        True, in_shape=(in_shape[0], in_shape[1], in_shape[2]), out_shape=out_shape,
        params=sum(p.numel() for p in model.parameters()),
        flops=sum(layer.flops for layer in layers), features=features,
        ratio=features / (in_shape[0] * in_shape[1] * in_shape[2]), layers=tuple(layers),
    )
