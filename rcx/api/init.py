"""Seeded weight initialisation, independent of the global RNG and of the device.

Weights are drawn on the CPU from an explicit ``torch.Generator`` and copied to the module's
device, so the same (seed, architecture) gives bit-identical weights on CPU and CUDA, and in
any evaluation order.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

INIT_SCHEMES = ("default", "kaiming_uniform", "kaiming_normal")
"""``default``: PyTorch's own ``reset_parameters`` (weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
i.e. kaiming_uniform with a=sqrt(5); biases likewise). ``kaiming_uniform``: He uniform, fan-in,
ReLU gain, zero bias. ``kaiming_normal``: He normal, fan-out, ReLU gain, zero bias (as in the
CV_U reference code)."""


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _uniform(shape: torch.Size, bound: float, g: torch.Generator) -> torch.Tensor:
    import torch

    return torch.empty(shape).uniform_(-bound, bound, generator=g)


def init_weights(module: nn.Module, scheme: str, g: torch.Generator) -> nn.Module:
    """Re-initialise every conv/linear/BN layer of ``module`` in place from generator ``g``.

    Layers are visited in ``named_modules`` order, so the draw sequence depends only on the
    architecture. BatchNorm gets weight 1, bias 0 and fresh running statistics.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r} (known: {', '.join(INIT_SCHEMES)})")
    import torch
    from torch import nn

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                w = m.weight
                fan_in, fan_out = _fans(w)
                if scheme == "default":
                    new_w = _uniform(w.shape, 1.0 / math.sqrt(fan_in), g)
                    new_b = _uniform(m.bias.shape, 1.0 / math.sqrt(fan_in), g) if m.bias is not None else None
                elif scheme == "kaiming_uniform":
                    new_w = _uniform(w.shape, math.sqrt(6.0 / fan_in), g)
                    new_b = torch.zeros(m.bias.shape) if m.bias is not None else None
                else:  # kaiming_normal, fan-out
                    new_w = torch.empty(w.shape).normal_(0.0, math.sqrt(2.0 / fan_out), generator=g)
                    new_b = torch.zeros(m.bias.shape) if m.bias is not None else None
                w.copy_(new_w)
                if new_b is not None and m.bias is not None:
                    m.bias.copy_(new_b)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
    return module
