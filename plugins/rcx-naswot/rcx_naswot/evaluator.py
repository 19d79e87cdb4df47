"""NASWOT: how differently a randomly initialised network's ReLUs switch on different images.

For a minibatch of ``N`` images every ReLU unit gives a binary code per image (1 where the unit
is active). With ``c_i`` the concatenated code of image ``i`` over all ReLU layers and ``N_A``
its length, the kernel is ``K[i, j] = N_A - hamming(c_i, c_j)`` (the number of units on which
images ``i`` and ``j`` agree), accumulated layer by layer as ``C C^T + (1 - C)(1 - C)^T``. The
score is ``log |det K|`` (``slogdet``), higher is better: networks whose units separate the
images have a better-conditioned kernel. This follows Mellor et al. 2021 (v2 of the paper and
its public code, which hooks every ReLU module).

Settings: the batch is ``batch_size`` training images drawn once per run with the plan seed
(the same for every architecture); weights come from the architecture's seed
(``EvalContext.seed``) and the trial index; ``bn_mode = "train"`` by default, as in the
reference code. A singular kernel (two images with identical codes, e.g. a network whose
ReLUs never switch) has no finite score: status ``degenerate``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import nn

from rcx.api import (INIT_SCHEMES, EvalContext, EvalResult, Evaluator, Metric, Option, RunContext, generator,
                     init_weights)


def relu_kernel(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``K`` (N, N) float64 and ``N_A`` (ReLU units per image) for images ``x`` (N, C, H, W)."""
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    units = [0]

    def hook(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        codes = (out > 0).flatten(1).float()  # (N, units of this layer)
        kernel.add_((codes @ codes.T + (1 - codes) @ (1 - codes).T).double())
        units[0] += codes.shape[1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return kernel, units[0]


def naswot_score(kernel: torch.Tensor) -> float:
    """``log |det K|``; ``-inf`` when ``K`` is singular."""
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign != 0 else -math.inf


class NASWOT(Evaluator):
    name = "naswot"
    version = "1"
    help = "NASWOT (Mellor et al. 2021): log|K_H| of binary ReLU codes over a minibatch; higher is better."
    headline = ("score", "relu_units")
    statuses = ("done", "degenerate")
    options = [
        Option("batch_size", int, 128, "images in the minibatch (drawn once per run from the training split)", min=2),
        Option("trials", int, 1, "random initialisations; the score is their mean", min=1),
        Option("init", str, "default", "weight init scheme (rcx.nn.init)", choices=INIT_SCHEMES),
        Option("bn_mode", str, "train", "BatchNorm: train = batch statistics, eval = running statistics",
               choices=("train", "eval")),
    ]
    metrics = [
        Metric("score", "nats", True, "log|det K| of the ReLU-code kernel, mean over trials"),
        Metric("score_std", "nats", False, "population std of the score over trials"),
        Metric("relu_units", "count", False, "N_A: ReLU units per image (the kernel's largest entry)"),
        Metric("seconds", "s", False, "wall time of the evaluation"),
    ]

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        return self.check_batch_fits(dataset_options)

    def prepare(self, ctx: RunContext) -> None:
        data, dev = ctx.data, ctx.device
        n = data.train_x.shape[0]
        if self.config["batch_size"] > n:
            raise ValueError(f"naswot.batch_size = {self.config['batch_size']} but the train split has {n} images")
        idx = torch.randperm(n, generator=generator(ctx.seed, "naswot", "batch"))[: self.config["batch_size"]]
        shape = (1, -1, 1, 1)
        mean, std = torch.tensor(data.mean).view(shape), torch.tensor(data.std).view(shape)
        self.x = ((data.train_x[idx].float() / 255 - mean) / std).to(dev)  # (N, C, H, W) float32
        self.space, self.in_shape, self.device = ctx.space, data.shape, dev

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        cfg = self.config
        t0 = time.perf_counter()
        model = self.space.build(ctx.arch, self.in_shape).to(self.device).train(cfg["bn_mode"] == "train")
        trials = []
        for t in range(cfg["trials"]):
            ctx.check_cancel()
            init_weights(model, cfg["init"], generator(ctx.seed, "trial", t))
            kernel, units = relu_kernel(model, self.x)
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
