"""The zero-cost proxies as plain functions of a network and its inputs.

Each function scores one randomly initialised network; the evaluators in
:mod:`rcx_zerocost.evaluators` build, initialise and set up the network (dtype, BatchNorm mode)
and call them. Written from the papers and from reading the public reference code
(SamsungLabs/zero-cost-nas, NASLib, Zen-NAS, ZiCo); where a function deviates from the reference,
its docstring says so.

Conventions: ``x`` is a (N, C, H, W) float batch on the network's device, ``y`` its (N,) int64
labels; the "prunable" weights are those of every convolution and linear layer (the reference
code's ``Conv2d``/``Linear``; rcx also counts ``Conv1d``/``Conv3d``), biases excluded. A layer
whose weight gets no gradient (an edge rcx skips because it cannot reach the output) contributes
what the reference's zero gradient contributes: nothing. Every score is a Python float and may be
non-finite; the evaluators turn that into status ``degenerate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
"""Layers whose weights the proxies score."""

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: dict[str, LossFn] = {
    "cross_entropy": F.cross_entropy,
    # MSE between the logits and one-hot targets, mean over every element.
    "mse": lambda logits, y: F.mse_loss(logits, F.one_hot(y, logits.shape[-1]).to(logits.dtype)),
}
"""Losses by option value: ``(logits (N, K), labels (N,)) -> scalar``, mean over the batch."""


def prunable_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight of every conv/linear layer, in ``modules()`` order."""
    return [m.weight for m in model.modules() if isinstance(m, WEIGHTED)]


def _grads(loss: torch.Tensor, weights: list[torch.Tensor], create_graph: bool = False) -> list[torch.Tensor | None]:
    """d loss / d w for every weight (None for weights the loss does not depend on); leaves
    ``.grad`` untouched."""
    return list(torch.autograd.grad(loss, weights, allow_unused=True, create_graph=create_graph))


def remove_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer of ``model`` by an identity, in place (zero-cost-nas's
    ``bn=False`` copy, which turns their ``forward`` into a no-op)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return model


def synflow(model: nn.Module, in_shape: tuple[int, int, int]) -> float:
    """SynFlow (Tanaka et al. 2020): ``sum over weights |theta * dR/dtheta|`` where ``R`` is the
    sum of the outputs of the network whose every parameter and buffer is replaced by its
    absolute value, on one all-ones image of shape ``in_shape`` (C, H, W), in float64.

    As zero-cost-nas's ``compute_synflow_per_weight``: the sign trick (``abs`` of the whole
    state dict), float64 against overflow, one image of ones, the sum of the logits. Modifies
    ``model``: it ends in float64 with non-negative parameters (re-initialise it before reuse;
    the reference restores the signs, rcx re-draws the weights instead). For a bias-free ReLU
    network with ``L`` weight layers ``R`` is homogeneous of degree 1 in each layer's weights, so
    the score is ``L * R``.
    """
    model.double()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.abs_()
    device = next(model.parameters()).device
    weights = prunable_weights(model)
    out = model(torch.ones(1, *in_shape, dtype=torch.float64, device=device))
    grads = _grads(out.sum(), weights)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: LossFn) -> float:
    """SNIP (Lee et al. 2019) summed over the network: ``sum |theta * dL/dtheta|``, one forward
    and one backward of the loss on the batch. zero-cost-nas computes ``|dL/dm|`` for a
    multiplicative mask ``m = 1`` on each weight, which is the same number."""
    weights = prunable_weights(model)
    grads = _grads(loss(model(x), y), weights)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: LossFn) -> float:
    """The sum over layers of the Euclidean (Frobenius) norm of ``dL/dtheta`` of the layer's
    weight (zero-cost-nas's ``grad_norm``: per-layer norms, summed; not the norm of the whole
    gradient)."""
    grads = _grads(loss(model(x), y), prunable_weights(model))
    return float(sum(g.norm() for g in grads if g is not None))


def grasp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: LossFn) -> float:
    """GraSP (Wang et al. 2020) summed over the network, with zero-cost-nas's sign:
    ``sum -theta * (H g)`` where ``g = dL/dtheta`` and ``H`` the Hessian of ``L``, both on the
    batch (temperature 1, one iteration).

    ``H g`` is the gradient of ``g_const . g(theta)`` (a Hessian-vector product, no Hessian is
    formed). The reference runs two forward passes (one for ``g``, one differentiable); here one
    forward with ``create_graph`` gives both, which is the same number: the same batch passes
    twice with the same BatchNorm mode. GraSP prunes the weights with the largest
    ``S(-theta) = -theta * Hg``; zero-cost-nas sums ``-theta * Hg`` and finds it positively
    correlated with accuracy, so higher is better here as there.
    """
    weights = prunable_weights(model)
    grads = _grads(loss(model(x), y), weights, create_graph=True)
    used = [(w, g) for w, g in zip(weights, grads) if g is not None]
    if not used:
        return 0.0
    z = cast(torch.Tensor, sum((g.detach() * g).sum() for _, g in used))  # used is not empty
    if not z.requires_grad:  # the gradient does not depend on the weights (no curvature reached)
        return 0.0
    hg = _grads(z, [w for w, _ in used])
    return float(sum((-w.detach() * h).sum() for (w, _), h in zip(used, hg) if h is not None))


def fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: LossFn, per_weight: bool = True) -> float:
    """Fisher (Turner et al. 2020, "BlockSwap"; Theis et al. 2018) summed over the network.

    For every conv/linear layer with output activations ``a`` (N, C, ...) and ``d = dL/da``:
    ``g[n, c] = sum over positions of a * d`` and the channel's saliency is
    ``Delta_c = 0.5 * mean_n g[n, c]^2``. The score sums ``Delta_c`` over channels and layers,
    each channel counted once per weight of its filter (``C_in/groups * k * k``) with
    ``per_weight``: zero-cost-nas broadcasts each channel's value to every weight of the
    channel before summing, and its published numbers include that factor. ``per_weight=False``
    counts each channel once (the paper's sum of channel saliencies). One forward, one backward;
    the activations are read by hooks (the reference inserts an identity layer after each
    conv/linear and hooks its backward).
    """
    terms: list[torch.Tensor] = []

    def forward_hook(module: nn.Module, inputs: object, out: torch.Tensor) -> None:
        if not out.requires_grad:
            return
        act = out.detach()
        per_channel = cast(torch.Tensor, module.weight)[0].numel() if per_weight else 1  # a WEIGHTED layer

        def grad_hook(grad: torch.Tensor) -> None:
            g = (act * grad).flatten(2).sum(-1) if act.dim() > 2 else act * grad  # (N, C)
            terms.append(0.5 * g.pow(2).mean(0).sum() * per_channel)

        out.register_hook(grad_hook)

    handles = [m.register_forward_hook(forward_hook) for m in model.modules() if isinstance(m, WEIGHTED)]
    try:
        _grads(loss(model(x), y), prunable_weights(model))
    finally:
        for h in handles:
            h.remove()
    return float(sum(terms))


def jacov(model: nn.Module, x: torch.Tensor, k: float = 1e-5) -> float:
    """Jacobian covariance (Mellor et al., arXiv v1 of "Neural Architecture Search without
    Training", 2020): with ``J_i = d(sum of the outputs)/d x_i`` flattened per image and ``R``
    their (N, N) correlation matrix, the score is ``-sum_j (log(l_j + k) + 1 / (l_j + k))`` over
    the eigenvalues ``l_j`` of ``R``; higher is better.

    As zero-cost-nas's ``jacob_cov``: one backward of the summed logits w.r.t. the whole input
    batch gives every ``J_i`` at once (in train-mode BatchNorm an image's row also carries the
    batch statistics' dependence on the other images, as in the reference), ``k = 1e-5``.
    Deviation: eigenvalues of the symmetric ``R`` by ``eigvalsh`` in float64 (the reference uses
    ``numpy.linalg.eig`` in float64; same values up to rounding). A constant Jacobian row makes
    ``R`` undefined: the score is NaN; so does an output that does not depend on the input at
    all (a cell whose every path from the input is ``none``), where the reference raises.
    """
    x = x.detach().requires_grad_(True)
    return _jacov_of(model(x), x, k)


def _jacov_of(logits: torch.Tensor, x: torch.Tensor, k: float = 1e-5, retain_graph: bool = False) -> float:
    """:func:`jacov` from the logits (N, K) of the input batch ``x`` (which requires grad)."""
    out = logits.sum()
    if not out.requires_grad:
        return math.nan
    (jac,) = torch.autograd.grad(out, x, allow_unused=True, retain_graph=retain_graph)
    if jac is None:
        return math.nan
    corr = torch.corrcoef(jac.flatten(1).double())
    if not bool(torch.isfinite(corr).all()):
        return math.nan
    eig = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(eig + k) + 1.0 / (eig + k)).sum())


def zen(features: nn.Module, x: torch.Tensor, noise: torch.Tensor, gamma: float = 1e-2) -> float:
    """Zen-score (Lin et al. 2021), as Zen-NAS's ``compute_zen_score``: ``log E_n ||f(x_n) -
    f(x_n + gamma * eps_n)||_1 + sum over BatchNorm layers log sqrt(mean_c running_var)``.

    ``features`` is the network without its classifier (the map before global average
    pooling), in train mode, with fresh BatchNorm running statistics; ``x`` and ``noise``
    (N, C, H, W) are standard Gaussian draws (not images). The two forward passes, clean then
    perturbed, update each BatchNorm's running variance with its momentum, and the correction
    reads it afterwards, exactly as the reference does (the paper's ``sigma_i`` is the batch
    standard deviation; with momentum 0.1 and fresh statistics the code's value is
    ``0.81 + 0.09 v_clean + 0.1 v_perturbed``).
    """
    with torch.no_grad():
        clean = features(x)
        perturbed = features(x + gamma * noise)
        delta = (clean - perturbed).abs().flatten(1).sum(1).mean()
        correction = sum(torch.log(m.running_var.mean().sqrt()) for m in features.modules()
                         if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None)
        return float(torch.log(delta) + correction)


def zico(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: LossFn, splits: int = 2) -> float:
    """ZiCo (Li et al., ICLR 2023): the batch is cut into ``splits`` consecutive parts (the
    reference's boundaries ``s * N // splits``); each part gets its own forward and backward of
    the loss. Per layer, over the parts, ``mu = mean |g|`` and ``sigma = std g`` (population) of
    every weight's gradient; the layer adds ``log sum_{sigma > 0} mu / sigma``, skipped when that
    sum is 0 (as the reference).

    Deviation: a network where no layer contributes gets NaN (degenerate) instead of the
    reference's 0, which would rank it among ordinary networks. Statistics in float64 (the
    reference: float32 NumPy).
    """
    weights = prunable_weights(model)
    n = x.shape[0]
    bounds = [s * n // splits for s in range(splits + 1)]
    parts = [_grads(loss(model(x[a:b]), y[a:b]), weights) for a, b in zip(bounds[:-1], bounds[1:])]
    score, layers = 0.0, 0
    for i, w in enumerate(weights):
        grads = [p[i] for p in parts]
        if all(g is None for g in grads):
            continue
        stacked = torch.stack([(g if g is not None else torch.zeros_like(w)).flatten().double() for g in grads])
        sigma = stacked.std(0, correction=0)
        mu = stacked.abs().mean(0)
        nonzero = sigma != 0
        total = float((mu[nonzero] / sigma[nonzero]).sum())
        if total != 0:
            score += math.log(total)
            layers += 1
    return score if layers else math.nan


GRADIENT_SCORES = ("snip", "grad_norm", "grasp", "fisher", "fisher_channel", "jacov")
"""The scores :func:`gradient_scores` returns (``fisher``: per weight, ``fisher_channel``: per
channel)."""


def gradient_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: LossFn) -> dict[str, float]:
    """snip, grad_norm, grasp, fisher (both ``per_weight`` settings) and jacov of one initialised
    network on one batch, from one forward pass: the loss gradient (taken with ``create_graph``,
    as :func:`grasp` does) gives snip, grad_norm and grasp's ``g``; the fisher hooks read the
    activations and their gradients during that backward; jacov's input gradient and grasp's
    Hessian-vector product are two more backward passes through the same graph.

    Each value is its function's definition on the same weights and batch (the tests compare
    them with :func:`snip`, ..., :func:`jacov` called one by one); the separate calls would
    run five forward and six backward passes, this runs one forward and four backward.
    """
    weights = prunable_weights(model)
    per_weight: list[torch.Tensor] = []
    per_channel: list[torch.Tensor] = []
    listening = [True]

    def forward_hook(module: nn.Module, inputs: object, out: torch.Tensor) -> None:
        if not out.requires_grad:
            return
        act = out.detach()
        count = cast(torch.Tensor, module.weight)[0].numel()  # a WEIGHTED layer

        def grad_hook(grad: torch.Tensor) -> None:
            if listening[0]:  # the loss backward only (not jacov's or grasp's passes)
                grad = grad.detach()  # create_graph: the gradient carries a graph the score does not need
                g = (act * grad).flatten(2).sum(-1) if act.dim() > 2 else act * grad  # (N, C)
                term = 0.5 * g.pow(2).mean(0).sum()
                per_weight.append(term * count)
                per_channel.append(term * 1)

        out.register_hook(grad_hook)

    x = x.detach().requires_grad_(True)
    handles = [m.register_forward_hook(forward_hook) for m in model.modules() if isinstance(m, WEIGHTED)]
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    grads = _grads(loss(logits, y), weights, create_graph=True)
    listening[0] = False
    used = [(w, g) for w, g in zip(weights, grads) if g is not None]
    scores = {
        "snip": float(sum((w.detach() * g.detach()).abs().sum() for w, g in used)),
        "grad_norm": float(sum(g.detach().norm() for _, g in used)),
        "fisher": float(sum(per_weight)),
        "fisher_channel": float(sum(per_channel)),
        "jacov": _jacov_of(logits, x, retain_graph=True),
        "grasp": 0.0,
    }
    if used:
        z = cast(torch.Tensor, sum((g.detach() * g).sum() for _, g in used))  # used is not empty
        if z.requires_grad:
            hg = _grads(z, [w for w, _ in used])
            scores["grasp"] = float(sum((-w.detach() * h).sum() for (w, _), h in zip(used, hg) if h is not None))
    return scores
