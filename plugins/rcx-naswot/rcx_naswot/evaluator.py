"""NASWOT: how differently a randomly initialised network's ReLUs switch on different images.

For a fixed batch of ``N`` images every ReLU unit gives a binary code per image (1 where the unit
is active). With ``c_i`` the concatenated code of image ``i`` over all ReLU layers and ``N_A``
its length, the kernel is ``K[i, j] = N_A - hamming(c_i, c_j)`` (the number of units on which
images ``i`` and ``j`` agree), accumulated layer by layer as ``C C^T + (1 - C)(1 - C)^T``. The
score is ``log |det K|`` (``slogdet``), higher is better: networks whose units separate the
images have a better-conditioned kernel. This follows Mellor et al. 2021 (v2 of the paper and
its public code, BayesWatch/nas-without-training, ``score_networks.py``).

Which units are counted, against the public code:

- ``edges = "all"`` (default): every edge of the network runs, as in the public code, so the
  ReLUs of edges that cannot reach the output switch and are counted. ``nb201`` normally skips
  such edges (:mod:`rcx.nn.nb201`); "all" builds it with ``prune_unreachable=False``. On
  NAS-Bench-201, 2,290 of the 15,625 cells have a ReLU-Conv-BN edge that cannot reach the
  cell's output; only their scores depend on this option (and ranks among them and the rest
  change). ``"reachable"`` counts only units that influence the output (the faster build).
  Spaces whose ``build`` takes no ``prune_unreachable`` keyword compute everything either way.
- ``relu_match = "type"`` (default): each ReLU unit once (every ``nn.ReLU`` module), ``N_A``
  the number of ReLU units, as the paper defines the kernel. The public code hooks every
  module whose *type name contains "ReLU"* (``'ReLU' in str(type(module))``) and codes its
  *input* (``input > 0``). In NAS-Bench-201 that matches the ``nn.ReLU`` modules and also
  each ``ReLUConvBN`` wrapper, whose input is its inner ReLU's input: so every ReLU inside a
  ReLU-Conv-BN (the ``nor_conv_1x1``/``nor_conv_3x3`` edges, also unreachable ones, and both
  convolutions of the two residual reduction blocks) is counted twice, while the final
  BN -> ReLU is counted once. ``relu_match = "name"`` reproduces that rule on rcx's
  networks (rcx's ``nb201`` module is also called ``ReLUConvBN``): ``N_A`` and ``K`` are then
  the public code's. The doubled units weigh the conv layers twice in ``K``, so the score is
  not a shift of the "type" score, though the two rank cells almost alike (Kendall tau 0.996
  on 32 random CIFAR-10 cells; "all" vs "reachable" on the same cells: 0.78).
- The public code counts only modules that its preceding backward pass reached; with the
  benchmark's ``none`` = ``x.mul(0)`` every module of the network is reached, so that changes
  nothing here. Its batch is unaugmented (``augtype = "none"`` strips the flip and crop from
  the training transform), as rcx's is.

Settings: the batch is ``batch_size`` training images drawn once per run with the plan seed
(the same for every architecture); weights come from the architecture's seed
(``EvalContext.seed``) and the trial index; ``bn_mode = "train"`` by default, as in the
reference code. ``layout = "auto"`` runs the network channels-last (NHWC) on a CPU, where its
float32 convolutions and BatchNorm are 1.3-1.55x faster on the benchmarks' networks, and in
PyTorch's default layout elsewhere: the two layouts sum in different orders, so a pre-activation
within rounding of 0 can change its code; on 20 random NAS-Bench-201 cells (C = 16, 128
CIFAR-10 images) the scores differed by at most 4.4e-7 relative, 5.8e-7 on the study's 990
cells (BENCHMARKS.md, "All
training-free scores"; the tests hold it to 1e-5). ``contiguous`` is the reference's layout. A
singular kernel (two images with identical codes, e.g. a network whose
ReLUs never switch) has no finite score: status ``degenerate``.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from rcx.api import (
    DESCRIPTION,
    INIT_SCHEMES,
    EvalContext,
    EvalResult,
    Evaluator,
    FixedBatch,
    Metric,
    Option,
    RunContext,
    build_every_edge,
    generator,
    init_weights,
)

if TYPE_CHECKING:
    import torch
    from torch import nn


def is_counted(module: nn.Module, relu_match: str) -> bool:
    """Does NASWOT code this module's input? ``type``: every ``nn.ReLU``; ``name``: every module
    whose class name contains "ReLU" (the public code's rule)."""
    from torch import nn

    if relu_match == "name":
        return "ReLU" in type(module).__name__
    return isinstance(module, nn.ReLU)


def relu_kernel(model: nn.Module, x: torch.Tensor, relu_match: str = "type") -> tuple[torch.Tensor, int]:
    """``K`` (N, N) float64 and ``N_A`` (coded units per image) for images ``x`` (N, C, H, W).

    A unit's code is ``input > 0`` of each counted module (:func:`is_counted`): for a ReLU the
    same as ``output > 0``, and for a wrapper that starts with a ReLU its ReLU's code."""
    import torch

    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    units = [0]

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        codes = binary_codes(inputs[0])  # (N, units of this module) 0/1
        kernel.add_(layer_kernel(codes))
        units[0] += codes.shape[1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if is_counted(m, relu_match)]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return kernel, units[0]


def binary_codes(x: torch.Tensor) -> torch.Tensor:
    """The codes ``x > 0`` of a layer input x (N, ...) as (N, units) 0/1: int8 on a CPU (written
    by the comparison itself, the dtype :func:`agreements` multiplies), else bool.

    The units are in ``x``'s memory order (a channels-last map gives its (H, W, C) order): the
    kernel sums over units, so their order does not change it."""
    import torch

    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C), contiguous: the codes are written in memory order
    if x.device.type != "cpu":
        return (x > 0).flatten(1)
    codes = torch.empty(x.shape, dtype=torch.int8, device=x.device)  # contiguous: flatten is a view
    return torch.gt(x, 0, out=codes).flatten(1)


def agreements(codes: torch.Tensor) -> torch.Tensor:
    """``C C^T`` (N, N) int64 for 0/1 codes (N, U) bool or int8: units on which two images are
    both active.

    Exact integer arithmetic: an int8 matrix product with int32 sums on a CPU (about 4x faster
    than float32 here), else a float32 product, exact while ``U < 2**24``. (torch 2.14's CPU
    ``_int_mm`` is wrong for ``U = 1``: short codes take the float product.)"""
    import torch

    if codes.device.type == "cpu" and codes.shape[1] >= 16:
        c8 = codes.to(torch.int8)  # no copy for int8 codes
        try:
            return torch._int_mm(c8, c8.T).long()
        except (RuntimeError, AttributeError):  # a torch without the CPU int8 product
            pass
    c = codes.float()
    return (c @ c.T).long()


def layer_kernel(codes: torch.Tensor) -> torch.Tensor:
    """One layer's ``C C^T + (1 - C)(1 - C)^T`` (N, N) float64 for 0/1 codes (N, U) bool or int8,
    as ``2 C C^T - r 1^T - 1 r^T + U`` with ``r`` the active units per image, the diagonal of
    ``C C^T``: one matrix product instead of two, the same integers."""
    both = agreements(codes)
    r = both.diagonal()  # (N,) int64: c_i . c_i = sum of c_i for 0/1 codes
    return (2 * both - r[:, None] - r[None, :] + codes.shape[1]).double()


def naswot_score(kernel: torch.Tensor) -> float:
    """``log |det K|``; ``-inf`` when ``K`` is singular."""
    import torch

    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign != 0 else -math.inf


def build_network(space: Any, arch: Any, in_shape: tuple[int, int, int], all_edges: bool) -> nn.Module:
    """The space's network; with ``all_edges`` every edge runs, also those that cannot reach the
    output (:func:`rcx.api.build_every_edge`)."""
    return build_every_edge(space, arch, in_shape) if all_edges else space.build(arch, in_shape)


class NASWOT(Evaluator):
    name = "naswot"
    version = "3"  # 3: layout = "auto" (channels-last on a CPU)
    help = "NASWOT (Mellor et al. 2021): log|K_H| of binary ReLU codes over one fixed batch; higher is better."
    headline = ("score", "relu_units")
    statuses = ("done", "degenerate")
    out_of_memory_hint = ("run on a device with more free memory, or lower batch_size, which changes the score "
                          "(its kernel is batch_size x batch_size)")
    options = [
        Option("batch_size", int, 128, "size of the one fixed scoring batch (drawn once per run from the training "
               "split, the same images for every candidate) whose N x N kernel is scored in one forward pass: "
               "changes the score (reference code: 128)", min=2),
        Option("trials", int, 1, "random initialisations; the score is their mean", min=1),
        Option("init", str, "default", "weight init scheme (rcx.api.INIT_SCHEMES)", choices=INIT_SCHEMES),
        Option("bn_mode", str, "train", "BatchNorm: train = batch statistics, eval = running statistics",
               choices=("train", "eval")),
        Option("edges", str, "all", "all = every edge runs and its ReLUs count, as the public code; reachable = "
               "only edges that reach the output (nb201 skips the others)", choices=("all", "reachable")),
        Option("layout", str, "auto", "memory layout of the network and batch: auto = channels_last on a CPU "
               "(1.3-1.55x faster; the score moves by rounding, under 1e-6 relative on the benchmarks), contiguous "
               "elsewhere; contiguous = the reference's", choices=("auto", "contiguous", "channels_last")),
        Option("relu_match", str, "type", "type = each nn.ReLU once (the paper's N_A); name = every module whose "
               "class name contains 'ReLU', as the public code (ReLU-Conv-BN's ReLU counted twice)",
               choices=("type", "name")),
    ]
    metrics = [
        Metric("score", "nats", True, "log|det K| of the ReLU-code kernel, mean over trials"),
        Metric("score_std", "nats", False, "population std of the score over trials", role=DESCRIPTION),
        Metric("relu_units", "count", False, "N_A: ReLU units per image (the kernel's largest entry)",
               role=DESCRIPTION),
        Metric("seconds", "s", False, "wall time of the evaluation", role=DESCRIPTION),
    ]

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        return self.check_batch_fits(dataset_options)

    def prepare(self, ctx: RunContext) -> None:
        import torch

        data, dev = ctx.data, ctx.device
        n = data.train_x.shape[0]
        if self.config["batch_size"] > n:
            raise ValueError(f"naswot.batch_size = {self.config['batch_size']} but the train split has {n} images")
        layout = self.config["layout"]
        fast = layout == "channels_last" or (layout == "auto" and dev.type == "cpu")
        self.memory_format = torch.channels_last if fast else torch.contiguous_format
        x = FixedBatch.draw(ctx, self.config["batch_size"], "naswot").x  # (N, C, H, W) float32, normalised
        self.x = x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x
        self.space, self.in_shape, self.device = ctx.space, data.shape, dev

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        import torch

        cfg = self.config
        t0 = time.perf_counter()
        model = build_network(self.space, ctx.arch, self.in_shape, cfg["edges"] == "all")
        model = model.to(self.device).to(memory_format=self.memory_format).train(cfg["bn_mode"] == "train")
        trials: list[dict[str, Any]] = []
        for t in range(cfg["trials"]):
            ctx.check_cancel()
            init_weights(model, cfg["init"], generator(ctx.seed, "trial", t))
            kernel, units = relu_kernel(model, self.x, cfg["relu_match"])
            trials.append({"score": naswot_score(kernel), "relu_units": units})
            ctx.progress((t + 1) / cfg["trials"], f"trial {t + 1}/{cfg['trials']}")
        scores = torch.tensor([tr["score"] for tr in trials], dtype=torch.float64)
        finite = bool(torch.isfinite(scores).all())
        metrics = {
            "score": float(scores.mean()) if finite else None,
            "score_std": float(scores.std(correction=0)) if finite else None,
            "relu_units": trials[0]["relu_units"],
            "seconds": time.perf_counter() - t0,
        }
        for tr in trials:  # JSON has no infinity
            tr["score"] = tr["score"] if math.isfinite(tr["score"]) else None
        return EvalResult("done" if finite else "degenerate", metrics, trials, {"batch_size": self.x.shape[0]})
