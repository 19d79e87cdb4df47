"""LC-Blocks (seed 003, Gavrikov & Keuper): linear combinations of random spatial filters.

An LC-Block replaces a spatial convolution (kernel > 1) with ``c_in`` inputs and ``c_out``
outputs by a spatial convolution with ``c_out * E`` filters (same kernel, stride, padding,
dilation and groups, no bias) followed by an intermediate op and a 1x1 convolution down to
``c_out`` (with the original conv's bias, if it had one; same groups, so a grouped or
depthwise conv stays one). With op ``none`` the block is a re-parameterisation of one spatial
convolution: its *combined filters* ``W_o = sum_j P_oj S_j`` (Lemma 3.1) give the same outputs,
see :meth:`LCBlock.fold`. Such a block can also *compute* that way (``folded = True``, set by
:func:`set_folded`): each forward pass forms the combined filters from the current weights
(differentiably: a (c_out x c_out E) by (c_out E x c_in k k) product) and runs one spatial
convolution, so the gradients of the 1x1 and spatial weights are the same as the two-conv
block's up to float rounding, while the spatial convolution costs what the plain conv costs
instead of E times that and no (B, c_out E, H, W) activation is stored. The ops ``relu``, ``bn``
(affine BatchNorm) and ``bn_relu`` are the paper's Appendix C ablation.

``frozen`` training freezes every spatial filter (kernel > 1, inside LC-Blocks or not) at its
random init with ``requires_grad = False``: autograd then skips their weight gradient (the
input gradient still flows) and the optimiser never sees them. 1x1 convs, BatchNorm and the
classifier always learn.
"""

from __future__ import annotations

from typing import Literal, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

from rcx.nn.choices import LC_OPS
from rcx.nn.surgery import replace_module


def _op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return nn.Identity()
    if name == "relu":
        return nn.ReLU()
    if name == "bn":
        return nn.BatchNorm2d(channels)
    if name == "bn_relu":
        return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU())
    raise ValueError(f"unknown LC-Block op {name!r} (known: {', '.join(LC_OPS)})")

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]  # nn.Conv2d's


def is_spatial(m: nn.Module) -> TypeGuard[nn.Conv2d]:
    """A 2-d convolution with a kernel larger than 1x1."""
    return isinstance(m, nn.Conv2d) and max(m.kernel_size) > 1


class LCBlock(nn.Module):
    """spatial conv (c_in -> c_out * E, k x k) -> op -> pointwise conv (c_out * E -> c_out, 1x1).

    Maps (B, c_in, H, W) -> (B, c_out, H', W') with the spatial geometry of the replaced conv.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int | tuple[int, int], expansion: int, *,
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, op: str = "none",
                 padding_mode: PaddingMode = "zeros") -> None:
        super().__init__()
        if expansion < 1:
            raise ValueError(f"LC-Block expansion must be >= 1, got {expansion}")
        self.in_ch, self.out_ch, self.expansion, self.groups = in_ch, out_ch, expansion, groups
        mid = out_ch * expansion
        self.spatial = nn.Conv2d(in_ch, mid, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                 groups=groups, bias=False, padding_mode=padding_mode)
        self.op_name = op
        self.op = _op(op, mid)
        self.pointwise = nn.Conv2d(mid, out_ch, 1, groups=groups, bias=bias)
        self.folded = False  # compute as one conv with the combined filters (op none only; set_folded)

    @classmethod
    def replacing(cls, conv: nn.Conv2d, expansion: int, op: str = "none") -> LCBlock:
        """An LC-Block with ``conv``'s geometry (its weights are not reused: init it afterwards)."""
        # torch's stubs type a Conv2d's geometry as tuple[int, ...], its __init__ wants an int or a
        # 2-tuple: the values are the ones that conv was made with.
        return cls(conv.in_channels, conv.out_channels, conv.kernel_size,  # type: ignore[arg-type]
                   expansion, stride=conv.stride, padding=conv.padding,  # type: ignore[arg-type]
                   dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,  # type: ignore[arg-type]
                   op=op, padding_mode=conv.padding_mode).to(conv.weight.device)

    def set_op(self, op: str) -> None:
        """Replace the intermediate op (a fresh module; call before initialising/training); a
        block with an op other than ``none`` no longer computes folded."""
        self.op_name = op
        self.folded = self.folded and op == "none"
        self.op = _op(op, self.out_ch * self.expansion).to(self.spatial.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded:
            sp = self.spatial
            if sp.padding_mode != "zeros":
                x = F.pad(x, sp._reversed_padding_repeated_twice, mode=sp.padding_mode)
                return F.conv2d(x, self.combined_weight(), self.pointwise.bias, sp.stride, 0, sp.dilation, self.groups)
            return F.conv2d(x, self.combined_weight(), self.pointwise.bias, sp.stride, sp.padding, sp.dilation,
                            self.groups)
        return self.pointwise(self.op(self.spatial(x)))

    def combined_weight(self) -> torch.Tensor:
        """The combined filters (c_out, c_in / groups, kh, kw): per group, the 1x1 weights times
        the spatial filters (Lemma 3.1). Equal to the block only when the op is ``none``."""
        g = self.groups
        s = self.spatial.weight  # (c_out * E, c_in / g, kh, kw)
        mid_g = s.shape[0] // g
        p = self.pointwise.weight.reshape(g, self.out_ch // g, mid_g)  # (g, c_out / g, mid / g)
        w = torch.bmm(p, s.reshape(g, mid_g, -1))  # (g, c_out / g, c_in / g * kh * kw)
        return w.reshape(self.out_ch, *s.shape[1:])

    @torch.no_grad()
    def fold(self) -> nn.Conv2d:
        """The single spatial convolution this block computes (op ``none`` only)."""
        if self.op_name != "none":
            raise ValueError(f"an LC-Block with op {self.op_name!r} does not fold into one convolution")
        sp = self.spatial
        # torch's stubs: a Conv2d's geometry is tuple[int, ...], its __init__ wants 2-tuples (see replacing)
        conv = nn.Conv2d(self.in_ch, self.out_ch, sp.kernel_size,  # type: ignore[arg-type]
                         stride=sp.stride, padding=sp.padding,  # type: ignore[arg-type]
                         dilation=sp.dilation, groups=self.groups,  # type: ignore[arg-type]
                         bias=self.pointwise.bias is not None,
                         padding_mode=sp.padding_mode).to(sp.weight.device, sp.weight.dtype)
        conv.weight.copy_(self.combined_weight())
        if conv.bias is not None and self.pointwise.bias is not None:
            conv.bias.copy_(self.pointwise.bias)
        return conv


LC_NATIVE = "rcx_lc_native"
"""A module attribute: set (True) by spaces whose architectures fix their own LC-Blocks
(``resnet_lc``, where ``E = 0`` means none); :func:`lc_transform` then inserts no blocks."""


def lc_transform(model: nn.Module, expansion: int, op: str = "none") -> int:
    """Replace every spatial conv of ``model`` that is not already in an LC-Block by an LC-Block
    with ``expansion`` (in place; ``0``, or a submodule marked :data:`LC_NATIVE`: insert none);
    every LC-Block then gets ``op``. Returns the number of blocks in the model."""
    if op not in LC_OPS:
        raise ValueError(f"unknown LC-Block op {op!r} (known: {', '.join(LC_OPS)})")
    inside = {id(m.spatial) for m in model.modules() if isinstance(m, LCBlock)}
    for native in [m for m in model.modules() if getattr(m, LC_NATIVE, False)]:
        inside |= {id(m) for m in native.modules()}
    targets = [(name, m) for name, m in model.named_modules() if is_spatial(m) and id(m) not in inside]
    if expansion == 0:
        targets = []
    for name, conv in targets:
        replace_module(model, name, LCBlock.replacing(conv, expansion, op))
    blocks = [m for m in model.modules() if isinstance(m, LCBlock)]
    for b in blocks:
        if b.op_name != op:
            b.set_op(op)
    return len(blocks)


def set_folded(model: nn.Module, folded: bool = True) -> int:
    """Make every LC-Block of ``model`` with op ``none`` compute as one convolution with its
    combined filters (``folded``) or as the two convolutions; returns how many blocks were set.
    Blocks with another op always compute as written (their op sits between the convs)."""
    blocks = [m for m in model.modules() if isinstance(m, LCBlock) and m.op_name == "none"]
    for b in blocks:
        b.folded = folded
    return len(blocks)


def freeze_spatial(model: nn.Module) -> int:
    """Freeze every spatial conv's weight and bias (``requires_grad = False``); returns the
    number of frozen parameters (elements)."""
    frozen = 0
    for m in model.modules():
        if is_spatial(m):
            for p in m.parameters(recurse=False):
                p.requires_grad_(False)
                frozen += p.numel()
    return frozen


def spatial_filters(model: nn.Module) -> list[torch.Tensor]:
    """The effective spatial filters of each layer in module order: an LC-Block's combined
    filters, a plain spatial conv's weight. Each (c_out, c_in / groups, kh, kw), detached."""
    out: list[torch.Tensor] = []
    inside = {id(m.spatial) for m in model.modules() if isinstance(m, LCBlock)}
    for m in model.modules():
        if isinstance(m, LCBlock):
            out.append(m.combined_weight().detach())
        elif is_spatial(m) and id(m) not in inside:
            out.append(m.weight.detach())
    return out


def filter_variance_entropy(weight: torch.Tensor) -> float:
    """Filter variance entropy (Gavrikov & Keuper, CNN Filter DB), not normalised.

    ``weight``: (c_out, c_in, kh, kw). Every kh x kw kernel is a row of an (N, kh * kw) matrix;
    the rows are centred, the singular values ``s`` give variance ratios ``r = s^2 / sum s^2``,
    and the entropy is ``-sum r log10 r``: 0 when all kernels share one pattern, up to
    ``log10(kh * kw)`` (0.954 for 3x3) for isotropic random kernels.
    """
    k = weight.shape[-1] * weight.shape[-2]
    w = weight.detach().reshape(-1, k).double().cpu()
    if w.shape[0] < 2:
        return 0.0
    s = torch.linalg.svdvals(w - w.mean(0))
    var = s**2
    total = var.sum()
    if total <= 0:
        return 0.0
    r = var / total
    r = r[r > 0]
    return float(-(r * torch.log10(r)).sum()) if r.numel() else 0.0

