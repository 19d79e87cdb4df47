"""Skip convolution outputs that the next convolution never reads.

A convolution with stride ``s``, dilation ``d`` and no padding reads input positions
``s * o + d * i`` only; when ``g = gcd(s, d) > 1`` (per axis) those are all multiples of ``g``, so
the layer before it computes ``g - 1`` of every ``g`` rows (or columns) for nothing. Seed 001's
``ksd`` stacks (Conv -> ReLU, strides and dilations 1-3) have such pairs in 12 of the 30
architectures of ``benchmarks/ridge_rfm.py``, where 11-86 % of the multiply-accumulates are
never read (BENCHMARKS.md, "Where ridge-RFM's 1-trial time goes").

:func:`skip_unread_outputs` rewrites such pairs in place: the earlier convolution takes stride
``s_prev * g`` (it computes only the rows that are read), the later one stride ``s / g`` and
dilation ``d / g`` on the smaller map. Every value the network outputs is the same dot product
of the same numbers, so the output is unchanged (bit for bit with PyTorch's CPU convolutions,
float32 and bf16, contiguous and channels-last: tests/test_unread.py); the weights are the same
parameters, so parameter counts, initialisation and the output shape do not change. The
rewritten network is for inference: only modules that act on each position alone may sit
between the two convolutions, since anything that pools over positions (BatchNorm's batch
statistics, pooling) would see fewer positions.
"""

from __future__ import annotations

import math

from torch import nn

POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Identity)
"""Modules that act on each position alone: a convolution's unread outputs stay unread through them."""


def skip_unread_outputs(model: nn.Module) -> int:
    """Rewrite ``model`` (an ``nn.Sequential``) in place so no ``Conv2d`` computes outputs that the
    next ``Conv2d`` cannot read; returns how many pairs were rewritten (0: other models).

    A pair is a ``Conv2d`` followed, through :data:`POINTWISE` modules only, by a ``Conv2d`` with
    zero padding and ``gcd(stride, dilation) > 1`` on an axis. Pairs are rewritten from the output
    backwards, so a rewritten stride can make the pair before it eligible as well.
    """
    if not isinstance(model, nn.Sequential) or len({id(m) for m in model}) != len(model):
        return 0  # not a stack, or a module that runs twice (rewriting it once would change both uses)
    rewritten = 0
    consumer: nn.Conv2d | None = None  # the next convolution, through pointwise modules only
    for module in reversed(list(model)):
        if isinstance(module, nn.Conv2d):
            if consumer is not None and _skip(module, consumer):
                rewritten += 1
            consumer = module
        elif not isinstance(module, POINTWISE):
            consumer = None
    return rewritten


def _skip(producer: nn.Conv2d, consumer: nn.Conv2d) -> bool:
    """Compute only the rows and columns of ``producer`` that ``consumer`` reads; False when
    ``consumer`` reads them all (or pads, which shifts what it reads)."""
    if consumer.padding_mode != "zeros" or any(p != 0 for p in _pair(consumer.padding)):
        return False
    stride, dilation = _pair(consumer.stride), _pair(consumer.dilation)
    g = tuple(math.gcd(s, d) for s, d in zip(stride, dilation))
    if g == (1, 1):
        return False
    consumer.stride = tuple(s // k for s, k in zip(stride, g))
    consumer.dilation = tuple(d // k for d, k in zip(dilation, g))
    producer.stride = tuple(s * k for s, k in zip(_pair(producer.stride), g))
    return True


def _pair(value: int | str | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(value, str):  # "valid" is no padding; "same" pads
        return (0, 0) if value == "valid" else (1, 1)
    return (value, value) if isinstance(value, int) else tuple(value)
