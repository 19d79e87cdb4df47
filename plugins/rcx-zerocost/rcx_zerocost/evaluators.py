"""The zero-cost proxies as rcx evaluators: one class per proxy, one shared protocol.

Protocol (every proxy): per candidate, the network is built once (its classifier: the space's
``build_classifier``; ``zen``: its feature extractor), then for each of ``trials`` random
initialisations its weights are drawn from ``generator(EvalContext.seed, "trial", t)`` and the
proxy scores it. The batch of training images is drawn once per run from the plan seed
(``FixedBatch.draw(ctx, batch_size, "zerocost")``): every candidate and every proxy with the
same ``batch_size`` sees the same images (common random numbers), whatever the evaluation order.
``zen`` feeds Gaussian noise instead, drawn per trial from ``(plan seed, "zen", "input", t)``.

Defaults follow the reference code: ``batch_size = 64`` (zero-cost-nas on CIFAR), PyTorch's
default initialisation (``init = "default"``: zero-cost-nas does not re-initialise; Zen-NAS
draws N(0, 1) weights, ``init = "gaussian"``), BatchNorm in train mode (batch statistics;
synflow removes BatchNorm), cross-entropy loss. Metrics: ``score`` (mean over trials, higher is
better for every proxy), ``score_std``, ``params`` (parameters of the scored network),
``seconds``. A non-finite score in any trial gives status ``degenerate``, no ``score``, and the
reason in ``extra["degenerate"]``.

Shared weights (``init_seed = "shared"``, snip, grad_norm, grasp, fisher, jacov): the weights
come from ``generator(derive_seed(plan seed, "zerocost", candidate id), "trial", t)`` instead of
the instance's seed, and the five read one computation (:func:`rcx_zerocost.proxies.gradient_scores`)
kept per candidate and trial for proxies with equal ``batch_size``, ``init``, ``bn_mode``,
``loss`` and ``layout``: whichever is evaluated first computes all five, so a score depends
neither on the order nor on the other proxies of the plan.

Layout (``layout``): ``contiguous`` (default) runs the network and the batch in PyTorch's
default (NCHW) memory layout, as the reference code, and the scores equal the reference
computation on the same weights and batch to 1e-4 relative (tests/test_zerocost_fidelity.py).
``channels_last`` is faster on a CPU (about 1.4x on NAS-Bench-201 cells, up to 3x on
pooling-heavy ones) but sums in another order, and the proxies whose score amplifies rounding
move: zico by up to 2 % and grasp by up to 0.4 % (relative) on NAS-Bench-201 cells, snip,
grad_norm and fisher by up to 4e-4, the others by less than 1e-4 (BENCHMARKS.md, "All
training-free scores of a NAS-Bench-201 cell"). ``zen`` alone defaults to ``auto``
(channels-last on a CPU, contiguous elsewhere): it moves by less than 5e-6 relative there
(random NAS-Bench-201, NATS-SSS and NAS-Bench-Macro networks) and runs 1.3-1.6x faster.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from rcx.api import (
    DESCRIPTION,
    INIT_SCHEMES,
    CandidateCache,
    EvalContext,
    EvalResult,
    Evaluator,
    FixedBatch,
    Metric,
    Option,
    RunContext,
    build_every_edge,
    derive_seed,
    generator,
    init_weights,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from rcx_zerocost import proxies

BATCH_STREAM = "zerocost"
"""The seed stream of the shared batch: proxies with equal ``batch_size`` share their images."""


def _batch_size(minimum: int = 1, use: str = "passed whole through the network") -> Option:
    """The ``batch_size`` option of a proxy that scores training images: the size of the one
    fixed scoring batch (``use``: how the proxy feeds it to the network)."""
    return Option("batch_size", int, 64, "size of the one fixed scoring batch (drawn once per run from the training "
                  f"split, shared by every candidate and every proxy with this batch_size; {use}): changes the "
                  "score (zero-cost-nas: 64)", min=minimum)


TRIALS = Option("trials", int, 1, "random initialisations; the score is their mean", min=1)
INIT = Option("init", str, "default", "weight init (rcx.api.INIT_SCHEMES); default = PyTorch's, as zero-cost-nas",
              choices=INIT_SCHEMES)
BN_MODE = Option("bn_mode", str, "train", "BatchNorm: train = batch statistics (reference), eval = fresh running "
                 "statistics", choices=("train", "eval"))
LAYOUT = Option("layout", str, "contiguous", "memory layout of the network and batch: contiguous = the reference's "
                "(exact), channels_last = faster on a CPU, zico moves up to 2 % and grasp 0.4 % (rounding)",
                choices=("contiguous", "channels_last"))
ZEN_LAYOUT = Option("layout", str, "auto", "memory layout of the network and input: auto = channels_last on a CPU "
                    "(1.3-1.6x faster; the score moves by rounding, under 5e-6 relative on the benchmarks' networks), "
                    "contiguous elsewhere; contiguous = the reference's",
                    choices=("auto", "contiguous", "channels_last"))
INIT_SEED = Option(
    "init_seed", str, "instance", "instance: weights drawn per evaluator instance; shared: from (plan seed, "
    "candidate) only, and snip, grad_norm, grasp, fisher and jacov with equal batch_size, init, bn_mode, loss and "
    "layout read one forward/backward computation of all five", choices=("instance", "shared"), neutral_default=True)
LOSS = Option("loss", str, "cross_entropy", "loss on the logits: cross_entropy (reference) or mse against one-hot "
              "labels", choices=("cross_entropy", "mse"))  # the keys of proxies.LOSSES


def _metrics(unit: str, help: str) -> list[Metric]:
    return [
        Metric("score", unit, True, f"{help}, mean over trials"),
        Metric("score_std", unit, False, "population std of the score over trials", role=DESCRIPTION),
        Metric("params", "count", False, "parameters of the scored network", role=DESCRIPTION),
        Metric("seconds", "s", False, "wall time of the evaluation", role=DESCRIPTION),
    ]


class ZeroCostProxy(Evaluator):
    """The shared protocol; a subclass declares its options and implements :meth:`score`."""

    version = "2"  # 2: layout = "contiguous" by default (1: channels-last on a CPU)
    statuses = ("done", "degenerate")
    headline = ("score", "params")
    #: Score the classifier (logits) rather than the feature extractor.
    head: ClassVar[bool] = True
    #: Why a score can be non-finite, for the ``degenerate`` reason.
    degenerate_hint: ClassVar[str] = ""
    out_of_memory_hint = ("run on a device with more free memory, or lower batch_size, which changes the score "
                          "(the reference's is 64)")
    #: Draws ``batch_size`` training images (the shared batch).
    uses_images: ClassVar[bool] = True

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        return self.check_batch_fits(dataset_options) if self.uses_images else []

    def prepare(self, ctx: RunContext) -> None:
        import torch

        size = self.config["batch_size"] if self.uses_images else 0  # 0: only the shapes and the builder
        self.batch = FixedBatch.draw(ctx, size, BATCH_STREAM)
        self.run_seed = ctx.plan_seed
        self.data, self.space = ctx.data, ctx.space
        layout = self.config.get("layout", "contiguous")
        fast = layout == "channels_last" or (layout == "auto" and ctx.device.type == "cpu")
        self.memory_format = torch.channels_last if fast else torch.contiguous_format
        self.x = self.batch.x.contiguous(memory_format=self.memory_format)  # (B, C, H, W)

    def build(self, ctx: EvalContext) -> nn.Module:
        """The candidate's network, in its BatchNorm mode, before any initialisation."""
        model = self.batch.build(ctx.arch, head=self.head).to(memory_format=self.memory_format)
        return model.train(self.config.get("bn_mode", "train") == "train")

    def initialise(self, model: nn.Module, g: torch.Generator) -> None:
        init_weights(model, self.config["init"], g)

    @abstractmethod
    def score(self, model: nn.Module, trial: int) -> float:
        """The proxy on the initialised ``model`` (may be non-finite)."""

    def shared_score(self, arch_id: str, seed: int, trial: int) -> float | None:
        """With ``init_seed = "shared"``: the score of ``trial`` if another computation already
        gave it (None: initialise the network and call :meth:`score`)."""
        return None

    def score_shared(self, model: nn.Module, arch_id: str, seed: int, trial: int) -> float:
        """With ``init_seed = "shared"``: :meth:`score`, and what it computes for others kept."""
        return self.score(model, trial)

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        import torch

        cfg = self.config
        t0 = time.perf_counter()
        model = self.build(ctx)
        params = sum(p.numel() for p in model.parameters())
        shared = cfg.get("init_seed") == "shared"
        seed = derive_seed(self.run_seed, BATCH_STREAM, ctx.arch.id) if shared else ctx.seed
        values: list[float] = []
        for t in range(cfg["trials"]):
            ctx.check_cancel()
            value = self.shared_score(ctx.arch.id, seed, t) if shared else None
            if value is None:
                self.initialise(model, generator(seed, "trial", t))
                value = self.score_shared(model, ctx.arch.id, seed, t) if shared else self.score(model, t)
            values.append(value)
            ctx.progress((t + 1) / cfg["trials"], f"trial {t + 1}/{cfg['trials']}")
        bad = [(t, v) for t, v in enumerate(values) if not math.isfinite(v)]
        extra: dict[str, Any] = {"batch_size": cfg["batch_size"]} if "batch_size" in cfg else {}
        if bad:
            extra["degenerate"] = (f"score is {bad[0][1]} in trial {bad[0][0]}"
                                   + (f" ({len(bad)} of {len(values)} trials)" if len(values) > 1 else "")
                                   + (f": {self.degenerate_hint}" if self.degenerate_hint else ""))
        scores = torch.tensor(values, dtype=torch.float64)
        metrics = {
            "score": None if bad else float(scores.mean()),
            "score_std": None if bad else float(scores.std(correction=0)),
            "params": params,
            "seconds": time.perf_counter() - t0,
        }
        trials = [{"score": v if math.isfinite(v) else None} for v in values]  # JSON has no NaN/infinity
        return EvalResult("degenerate" if bad else "done", metrics, trials, extra)


class _LossProxy(ZeroCostProxy):
    """A proxy of the loss on the shared batch."""

    def loss(self) -> proxies.LossFn:
        from rcx_zerocost import proxies

        return proxies.LOSSES[self.config["loss"]]


SHARED_GRADIENTS: CandidateCache[dict[str, float]] = CandidateCache()
"""The :func:`~rcx_zerocost.proxies.gradient_scores` of the last candidate scored with
``init_seed = "shared"``, per trial, keyed by the candidate, its seed and every option the
computation reads."""


class _GradientProxy(_LossProxy):
    """A proxy that :func:`~rcx_zerocost.proxies.gradient_scores` computes with four others."""

    def shared_name(self) -> str:
        """Which of :data:`~rcx_zerocost.proxies.GRADIENT_SCORES` this proxy reports."""
        return self.name

    def _shared_key(self, arch_id: str, seed: int) -> tuple[Any, ...]:
        cfg = self.config
        return (arch_id, seed, self.run_seed, cfg["batch_size"], cfg["init"], cfg["bn_mode"],
                cfg.get("loss", "cross_entropy"), cfg["layout"])

    def shared_score(self, arch_id: str, seed: int, trial: int) -> float | None:
        scores = SHARED_GRADIENTS.get(self.data, self.space, self._shared_key(arch_id, seed), trial)
        return None if scores is None else scores[self.shared_name()]

    def loss(self) -> proxies.LossFn:
        from rcx_zerocost import proxies

        return proxies.LOSSES[self.config.get("loss", "cross_entropy")]

    def score_shared(self, model: nn.Module, arch_id: str, seed: int, trial: int) -> float:
        """All five on ``model``, kept for the other four; this proxy's value."""
        from rcx_zerocost import proxies

        scores = proxies.gradient_scores(model, self.x, self.batch.y, self.loss())
        SHARED_GRADIENTS.put(self.data, self.space, self._shared_key(arch_id, seed), trial, scores)
        return scores[self.shared_name()]


class Synflow(ZeroCostProxy):
    name = "synflow"
    help = "SynFlow (Tanaka et al. 2020): sum |theta * dR/dtheta| of the |theta| network on an all-ones image."
    degenerate_hint = "the float64 synaptic flow overflowed"
    uses_images = False
    options = [
        TRIALS,
        INIT,
        Option("bn_mode", str, "none", "BatchNorm: none = removed (zero-cost-nas's synflow), train = batch "
               "statistics (its synflow_bn), eval = fresh running statistics", choices=("none", "train", "eval")),
        LAYOUT,
    ]
    metrics = _metrics("", "synaptic flow summed over conv/linear weights")

    def build(self, ctx: EvalContext) -> nn.Module:
        from rcx_zerocost import proxies

        model = super().build(ctx)
        return proxies.remove_batchnorm(model) if self.config["bn_mode"] == "none" else model

    def score(self, model: nn.Module, trial: int) -> float:
        from rcx_zerocost import proxies

        return proxies.synflow(model, self.batch.in_shape)


class Snip(_GradientProxy):
    name = "snip"
    help = "SNIP (Lee et al. 2019): sum |theta * dL/dtheta| over conv/linear weights on one batch."
    degenerate_hint = "the loss or its gradient is not finite"
    options = [_batch_size(), TRIALS, INIT, BN_MODE, LOSS, LAYOUT, INIT_SEED]
    metrics = _metrics("", "connection sensitivity summed over conv/linear weights")

    def score(self, model: nn.Module, trial: int) -> float:
        from rcx_zerocost import proxies

        return proxies.snip(model, self.x, self.batch.y, self.loss())


class GradNorm(_GradientProxy):
    name = "grad_norm"
    help = "Gradient norm: sum over conv/linear layers of ||dL/dW||_2 on one batch (zero-cost-nas)."
    degenerate_hint = "the loss or its gradient is not finite"
    options = [_batch_size(), TRIALS, INIT, BN_MODE, LOSS, LAYOUT, INIT_SEED]
    metrics = _metrics("", "sum of per-layer weight-gradient norms")

    def score(self, model: nn.Module, trial: int) -> float:
        from rcx_zerocost import proxies

        return proxies.grad_norm(model, self.x, self.batch.y, self.loss())


class Grasp(_GradientProxy):
    name = "grasp"
    help = "GraSP (Wang et al. 2020): sum -theta * Hg over conv/linear weights (zero-cost-nas's sign)."
    degenerate_hint = "the loss, its gradient or the Hessian-gradient product is not finite"
    options = [_batch_size(), TRIALS, INIT, BN_MODE, LOSS, LAYOUT, INIT_SEED]
    metrics = _metrics("", "sum of -theta * Hg (gradient-signal preservation)")

    def score(self, model: nn.Module, trial: int) -> float:
        from rcx_zerocost import proxies

        return proxies.grasp(model, self.x, self.batch.y, self.loss())


class Fisher(_GradientProxy):
    name = "fisher"
    help = "Fisher (Turner et al. 2020): sum of channel saliencies 0.5 mean_n (sum a * dL/da)^2."
    degenerate_hint = "the loss or an activation gradient is not finite"
    options = [
        _batch_size(), TRIALS, INIT, BN_MODE, LOSS, LAYOUT, INIT_SEED,
        Option("per_weight", bool, True, "count each channel once per weight of its filter (zero-cost-nas's "
               "sum); false: once per channel (the paper's)"),
    ]
    metrics = _metrics("", "Fisher saliency summed over conv/linear channels")

    def shared_name(self) -> str:
        return "fisher" if self.config["per_weight"] else "fisher_channel"

    def score(self, model: nn.Module, trial: int) -> float:
        from rcx_zerocost import proxies

        return proxies.fisher(model, self.x, self.batch.y, self.loss(), self.config["per_weight"])


class Jacov(_GradientProxy):
    name = "jacov"
    help = "Jacobian covariance (Mellor et al. 2020, v1): -sum log(l+k) + 1/(l+k) over eigenvalues of corr(J)."
    degenerate_hint = "some image's input Jacobian is constant, so the correlation matrix is undefined"
    options = [_batch_size(minimum=2), TRIALS, INIT, BN_MODE, LAYOUT, INIT_SEED]
    metrics = _metrics("", "Jacobian-correlation score")

    def score(self, model: nn.Module, trial: int) -> float:
        from rcx_zerocost import proxies

        return proxies.jacov(model, self.x)


class Zen(ZeroCostProxy):
    name = "zen"
    version = "3"  # 3: layout = "auto" (channels-last on a CPU)
    help = "Zen-score (Lin et al. 2021): log E||f(x) - f(x + gamma eps)||_1 + sum log sqrt(mean BN running var)."
    head = False
    uses_images = False
    degenerate_hint = "the perturbation does not change the features (log 0) or a BatchNorm variance is 0"
    options = [
        Option("batch_size", int, 64, "size of the scoring batch of Gaussian-noise inputs (no training images; "
               "drawn per trial from the plan seed, the same for every candidate; passed whole through the "
               "network): changes the score", min=1),
        TRIALS,
        Option("init", str, "gaussian", "weight init: gaussian = N(0, 1) weights, zero biases (Zen-NAS), or an "
               "rcx.api.INIT_SCHEMES scheme", choices=("gaussian", *INIT_SCHEMES)),
        Option("mixup_gamma", float, 1e-2, "perturbation scale gamma (Zen-NAS: 0.01)", min=0.0, gt_min=True),
        ZEN_LAYOUT,
    ]
    metrics = _metrics("", "Zen-score")

    def build(self, ctx: EvalContext) -> nn.Module:
        """The feature extractor in train mode; on spaces whose ``build`` can skip dead edges
        (``nb201``) the unpruned network, so that every BatchNorm the reference runs enters
        the correction."""
        model = build_every_edge(self.batch.space, ctx.arch, self.batch.in_shape).to(self.batch.device)
        return model.to(memory_format=self.memory_format).train()

    def initialise(self, model: nn.Module, g: torch.Generator) -> None:
        import torch
        from torch import nn

        from rcx_zerocost import proxies

        if self.config["init"] != "gaussian":
            init_weights(model, self.config["init"], g)
            return
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, proxies.WEIGHTED):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g))
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.reset_parameters()  # weight 1, bias 0, fresh running statistics

    def score(self, model: nn.Module, trial: int) -> float:
        import torch

        from rcx_zerocost import proxies

        g = generator(self.run_seed, "zen", "input", trial)
        shape = (self.config["batch_size"], *self.batch.in_shape)
        x, noise = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        x, noise = (t.to(self.batch.device).contiguous(memory_format=self.memory_format) for t in (x, noise))
        return proxies.zen(model, x, noise, self.config["mixup_gamma"])


class Zico(_LossProxy):
    name = "zico"
    help = "ZiCo (Li et al. 2023): sum over layers of log sum mean|g|/std(g) across batch splits."
    degenerate_hint = "no layer's gradient varies across the splits"
    options = [
        _batch_size(minimum=2, use="cut into `splits` parts, one forward and backward each"),
        TRIALS, INIT, BN_MODE, LOSS, LAYOUT,
        Option("splits", int, 2, "parts the batch is cut into, one gradient each (reference: 2)", min=2),
    ]
    metrics = _metrics("", "ZiCo score")

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        problems = super().check_plan(dataset_options)
        if self.config["splits"] > self.config["batch_size"]:
            problems.append(("splits", f"{self.config['splits']} exceeds batch_size = {self.config['batch_size']}"))
        return problems

    def score(self, model: nn.Module, trial: int) -> float:
        from rcx_zerocost import proxies

        return proxies.zico(model, self.x, self.batch.y, self.loss(), self.config["splits"])


PROXIES: tuple[type[ZeroCostProxy], ...] = (Synflow, Snip, GradNorm, Grasp, Fisher, Jacov, Zen, Zico)
