"""int8 random features: a ``Conv2d -> ReLU`` stack run by PyTorch's quantized CPU kernels.

On a CPU with AVX512-VNNI an int8 multiply-accumulate instruction does twice the work of a bf16
one, and PyTorch's ``x86`` quantized engine (oneDNN underneath) runs strided and dilated
convolutions at that rate (BENCHMARKS.md, "int8 features"). :func:`quantize_stack` turns a float
``nn.Sequential`` of ``Conv2d`` and ``ReLU`` modules (``ksd``'s stacks, after
:func:`rcx.nn.unread.skip_unread_outputs`) into an :class:`Int8Stack` with

- **weights**: the float module's own (the same random network), per output channel symmetric
  ``qint8`` (scale ``max |w| / 127``), biases float32;
- **activations**: per tensor ``quint8``, the range observed on a calibration batch (the first
  forward batch: deterministic): the input's ``[min, max]`` (affine), every ``Conv2d -> ReLU``
  output's ``[0, max]``, a ``Conv2d`` without ReLU its ``[min, max]``; values outside the range
  saturate;
- **output**: dequantised to float32, so the features go to the same ridge solver.

The quantized tensor API is CPU-only here. PyTorch 2.14 warns that its creation functions
(``torch.quantize_per_tensor`` and the like) are deprecated and will be removed in a future
release (pytorch/pytorch#184982); this module silences that warning where it calls them, and
``tests/test_int8.py`` fails the day they go.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

ENGINE = "x86"  # PyTorch's default on x86; oneDNN for these convolutions (fbgemm is 2-10x slower on dilated ones)
QMAX = 255  # quint8
WMAX = 127  # qint8, symmetric


_engine_lock = threading.Lock()
_engine_users = 0  # threads inside _quantized() now
_engine_before = ENGINE  # the engine they found when the first of them came in


@contextlib.contextmanager
def _quantized() -> Iterator[None]:
    """The ``x86`` engine, and no deprecation warning from the quantized tensor functions.

    The engine is one setting of the whole process (``torch.backends.quantized.engine``): it is
    switched when the first thread comes in, only where it says something else, and put back
    when the last one leaves, so a thread leaving does not switch it under another one still
    computing."""
    global _engine_users, _engine_before
    with _engine_lock:
        if _engine_users == 0:
            _engine_before = torch.backends.quantized.engine
            if _engine_before != ENGINE:
                torch.backends.quantized.engine = ENGINE
        _engine_users += 1
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*quantize.* deprecated", category=UserWarning)
            yield
    finally:
        with _engine_lock:
            _engine_users -= 1
            if _engine_users == 0 and _engine_before != ENGINE:
                torch.backends.quantized.engine = _engine_before


def int8_supported() -> bool:
    """Whether this PyTorch build has the ``x86`` quantized engine (x86 CPUs)."""
    return ENGINE in torch.backends.quantized.supported_engines


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
"""CPU flags (``/proc/cpuinfo``) of the int8 dot-product instructions that make int8 faster than bf16."""


@functools.cache
def int8_fast() -> bool:
    """Whether int8 features are the fast path on this machine: the ``x86`` engine and a CPU with
    one of :data:`VNNI_FLAGS` (measured on an AVX512-VNNI CPU: 1.6-1.7x bf16's speed; without
    VNNI the int8 kernels have no instruction that doubles bf16's rate). Linux only (the flags
    come from ``/proc/cpuinfo``); False where they cannot be read."""
    if not int8_supported():
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return False
    return any(f in flags for f in VNNI_FLAGS)


def quantizable(model: nn.Module) -> bool:
    """Whether :func:`quantize_stack` takes ``model``: an ``nn.Sequential`` of ``Conv2d``, ``ReLU``
    and ``Identity`` modules only (those classes exactly: a subclass may compute something else),
    with at least one ``Conv2d``, every one zero-padded by a number of pixels."""
    return refusal(model) is None


def refusal(model: nn.Module) -> str | None:
    """Why :func:`quantize_stack` refuses ``model`` (the end of its error message); None when it
    takes it. The quantized stack is the plain composition of PyTorch's quantized ``Conv2d`` and
    ``ReLU``: a module with a forward of its own (a subclass) would silently become another
    network, and the quantized convolution pads with zeros by a number of pixels only."""
    if type(model) is not nn.Sequential:
        return f"this network is a {type(model).__name__}, not an nn.Sequential"
    bad = sorted({type(m).__name__ for m in model if type(m) not in (nn.Conv2d, nn.ReLU, nn.Identity)})
    if bad:
        return f"this network has {', '.join(bad)}"
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    if not convs:
        return "this network has no Conv2d"
    padded = sorted({f"padding = {m.padding!r}" if isinstance(m.padding, str) else f"padding_mode = {m.padding_mode!r}"
                     for m in convs if isinstance(m.padding, str) or m.padding_mode != "zeros"})
    if padded:
        return f"this network has a Conv2d with {', '.join(padded)} (the int8 kernels pad by zeros, in pixels)"
    return None


@dataclass(frozen=True)
class QParams:
    """A per-tensor ``quint8`` quantisation: ``x ~ scale * (q - zero_point)``."""

    scale: float
    zero_point: int

    @classmethod
    def of_range(cls, lo: float, hi: float) -> QParams:
        """Covers ``[min(lo, 0), max(hi, 0)]`` (0 exact); a zero range gets scale 1."""
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = (hi - lo) / QMAX if hi > lo else 1.0
        return cls(scale, min(QMAX, max(0, round(-lo / scale))))


class Int8Stack(nn.Module):
    """A quantized ``Conv2d``/``ReLU`` stack: float32 (B, C, H, W) in, float32 (B, C', H', W') out
    (the float stack's output shape and layout); see the module docstring. Inference only."""

    def __init__(self, layers: list[nn.Module], input_q: QParams) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.input_q = input_q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with _quantized():
            q = torch.quantize_per_tensor(x.float(), self.input_q.scale, self.input_q.zero_point, torch.quint8)
            return self.layers(q).dequantize()


def _range(x: torch.Tensor) -> tuple[float, float]:
    """``(min, max)`` of ``x``, reduced over its memory order (a channels-last tensor's ``min()``
    and ``max()`` take 10x longer on this project's CPU)."""
    flat = x.permute(0, 2, 3, 1).reshape(-1) if x.dim() == 4 and x.is_contiguous(
        memory_format=torch.channels_last) else x.reshape(-1)
    lo, hi = torch.aminmax(flat)
    return float(lo), float(hi)


def _ranges(modules: list[nn.Module], x: torch.Tensor, dtype: torch.dtype) -> list[tuple[float, float]]:
    """``(min, max)`` of the input and of every module's output on the batch ``x``, the modules
    run in ``dtype`` (float32, or bfloat16 autocast on the CPU); a ReLU's range follows from its
    input's, so only the input and the convolutions' outputs are reduced."""
    out = [_range(x)]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        for i, module in enumerate(modules):
            if isinstance(module, nn.ReLU):
                lo, hi = out[-1]
                out.append((max(lo, 0.0), max(hi, 0.0)))
                if i + 1 == len(modules):
                    break  # the last ReLU's output is not needed
            x = module(x)
            if not isinstance(module, nn.ReLU):
                out.append(_range(x))
    return out


def quantize_stack(model: nn.Module, calibration: torch.Tensor, dtype: torch.dtype = torch.float32,
                   headroom: float = 1.0) -> Int8Stack:
    """The int8 version of ``model``, an ``nn.Sequential`` of ``Conv2d`` and ``ReLU`` modules
    (``Identity`` allowed; raises ValueError, with the reason, for any other model:
    :func:`quantizable`).

    The activation ranges are observed on ``calibration`` ((B, C, H, W) float, in the layout the
    stack will get) with the float modules run in ``dtype`` (bfloat16 halves float32's cost on
    a CPU with AVX512-BF16; the ranges then differ by bf16 rounding, well under 1 %); every
    convolution's range is widened by ``headroom`` (other batches exceed the calibration
    batch's range now and then, and saturate at it)."""
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.quantized as nnq

    why = refusal(model)
    if why is not None:
        raise ValueError(f"int8 features need a stack of Conv2d and ReLU modules (e.g. the ksd space); {why}")
    assert isinstance(model, nn.Sequential)  # refusal said so
    modules = [m for m in model if not isinstance(m, nn.Identity)]
    ranges = _ranges(modules, calibration.float(), dtype)
    layers: list[nn.Module] = []
    with _quantized():
        i = 0
        while i < len(modules):
            conv = modules[i]
            if isinstance(conv, nn.ReLU):  # ReLU of a quantized tensor: clamps its integers at the zero point
                layers.append(nn.ReLU())
                i += 1
                continue
            assert isinstance(conv, nn.Conv2d)
            fused = i + 1 < len(modules) and isinstance(modules[i + 1], nn.ReLU)
            step = 2 if fused else 1
            lo, hi = ranges[i + step]
            q = QParams.of_range(lo * headroom, hi * headroom)
            cls = nniq.ConvReLU2d if fused else nnq.Conv2d
            qconv = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                        padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                        bias=conv.bias is not None, padding_mode=conv.padding_mode)
            qconv.set_weight_bias(_weight_int8(conv.weight.detach()),
                                  None if conv.bias is None else conv.bias.detach().float())
            qconv.scale, qconv.zero_point = q.scale, q.zero_point
            layers.append(qconv)
            i += step
    return Int8Stack(layers, QParams.of_range(*ranges[0]))


def _weight_int8(w: torch.Tensor) -> torch.Tensor:
    """``w`` (C_out, C_in/groups, k, k) as per-output-channel symmetric ``qint8``."""
    w = w.float()
    scale = (w.abs().amax(dim=(1, 2, 3)) / WMAX).clamp_min(torch.finfo(torch.float32).tiny)
    zero = torch.zeros(w.shape[0], dtype=torch.long)
    return torch.quantize_per_channel(w, scale.double(), zero, 0, torch.qint8)
