"""ridge-RFM: random convolutional features with a closed-form ridge readout.

Per trial the architecture gets fresh random weights (seeded from the plan seed, the
architecture id and the trial index), the first ``train_size`` training images and the first
``val_size`` test-split images go through it without gradients, the flattened features feed a
ridge classifier that matches scikit-learn's ``RidgeClassifier(alpha=lambda)``, and the
validation accuracy is recorded. Seeds 001 (the blog: 3x96x96, 500/500, lambda 1, screening,
5 trials) and 000 (Evans et al.: lambda 0.7, one-hot targets, 3 inits) are presets of this.

Defaults and what they mean:

- ``bn_mode = "train"``: BatchNorm layers (depthmult) normalise with each forward batch's own
  statistics; with fresh weights the running statistics are 0/1, so ``eval`` makes BN an
  identity. Batches are fixed (first N images, in order), so features are deterministic.
- ``standardize = false`` matches seed 001 (unscaled features, lambda 1: train accuracy is
  near 100 %); ``true`` z-scores every feature with training statistics and is recommended
  with ``lambda = "loo"``.
- ``dtype = "auto"`` picks the feature extractor's precision per device and network, from
  measurements (BENCHMARKS.md): int8 (below) for ``Conv2d``/``ReLU`` stacks such as ``ksd`` on
  x86 CPUs with int8 dot-product instructions (AVX512-VNNI, AVX-VNNI, AMX), otherwise bfloat16
  where the device computes it natively (CUDA, CPUs with AVX512-BF16/AMX), else float32. The
  ridge solve is always float32 with a float64 fallback. BENCHMARKS.md records the accuracy
  agreement of both with float32. Version 2's features: ``dtype = "bfloat16"`` where the CPU
  computes bf16 natively, ``"float32"`` elsewhere (VNNI CPUs without AVX512-BF16).
- int8 (``dtype = "int8"`` forces it; x86 CPUs, ``Conv2d``/``ReLU`` stacks only): the same
  random network run by PyTorch's quantized int8 kernels (:mod:`rcx.nn.int8`: per-channel int8
  weights, uint8 activations whose ranges are observed on the first training batch, in bfloat16
  where the CPU has it), features dequantised to float32 for the same solver; 1.6-1.7x the
  bf16 forward's speed on this project's AVX512-VNNI CPU (per network 1.1-1.8x), the same mean
  accuracy, features within about 2 % of float32 (values beyond the first batch's range
  saturate at it; BENCHMARKS.md, "int8 features").
- ``layout = "auto"``: the feature extractor runs channels-last (NHWC) on every device: with
  bfloat16 on this project's CPU 1.5-5x faster than contiguous on NAS-Bench-201 cells; the
  features differ from a contiguous run by rounding only (BENCHMARKS.md, "All training-free
  scores"). ``contiguous`` is PyTorch's default layout (rcx before issue 21 on a CPU).
- ``throughput``: images per second of the feature extractor alone on the plan's device,
  measured over the train and validation passes with device synchronisation, leaving out the
  evaluation's first batch (the first call for these shapes: allocations, kernel selection),
  which is computed once, not run again as an extra warm-up; it excludes the solver.
- Convolution outputs that the next convolution never reads (stride and dilation sharing a
  factor, as in many ``ksd`` stacks) are not computed (:mod:`rcx.nn.unread`): the same
  features, bit for bit on the CPU, with up to 86 % fewer multiply-accumulates.
- ``init_seed = "instance"``: every evaluator instance draws its own initialisations (from the
  plan seed, the instance name, the architecture and the trial). ``"shared"`` drops the instance
  name, so instances that differ only in the readout (``lambda``, ``standardize``, ``targets``,
  screening) compare readouts on the very same random features (common random numbers), and the
  features are computed once: the next such instance on the same candidate in the same process
  reuses them (one cached trial set, at most ``CACHE_BYTES``), which halves the cost of a
  fixed-lambda plus leave-one-out study.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rcx.api.cache import CandidateCache
from rcx.api.device import Normalizer
from rcx.api.evaluator import EvalContext, EvalResult, Evaluator, InvalidArchitecture, RunContext
from rcx.api.init import INIT_SCHEMES, init_weights
from rcx.api.options import DESCRIPTION, Metric, Option
from rcx.api.seeding import derive_seed, generator

if TYPE_CHECKING:
    import torch

    from rcx.api.arch import SearchSpace
    from rcx.nn.features import ForwardTimer


CACHE_BYTES = 512 * 2**20  # largest feature set kept for the next instance (train + validation, float32)
STAGE_BYTES = 1024 * 2**20  # largest normalised input (train + validation, float32) kept for the whole run


@dataclass(frozen=True)
class TrialFeatures:
    """One initialisation's features: ``train`` (n, d) and ``val`` (m, d) float32 on the device,
    and the extractor's ``throughput`` in images per second when they were computed."""

    train: torch.Tensor
    val: torch.Tensor
    throughput: float


class SharedFeatures(CandidateCache[TrialFeatures]):
    """The features of the last candidate evaluated with ``init_seed = "shared"``, for the next
    instance that asks with the same key (:class:`rcx.api.CandidateCache`)."""


SHARED_FEATURES = SharedFeatures()


class RidgeRFM(Evaluator):
    name = "ridge_rfm"
    version = "3"  # 2: channels-last on a CPU too (layout = "auto"); 3: auto = int8 for Conv2d/ReLU stacks (VNNI)
    help = "Random conv features + closed-form ridge readout (seeds 000 and 001)."
    headline = ("val_acc", "val_acc_std", "throughput")
    statuses = ("done", "screened")
    options = [
        Option("trials", int, 5, "random initialisations per architecture (accuracy is their mean)", min=1,
               max=1000),
        Option("train_size", int, 500, "training images: the first N of the dataset's train split", min=1),
        Option("val_size", int, 500, "validation images: the first N of the dataset's test split", min=1),
        Option("lambda", float, 1.0, "ridge penalty (sklearn alpha), or \"loo\" to pick it by exact leave-one-out",
               min=0.0, choices=("loo",)),
        Option("lambda_grid", list, None,
               "absolute lambdas tried by \"loo\" (default: a relative grid, see rcx.nn.ridge)",
               item_type=float, min=0.0),
        Option("targets", str, "pm1", "pm1: sklearn's {-1,+1} columns; onehot: seed 000's 1/0 targets",
               choices=("pm1", "onehot")),
        Option("standardize", bool, False, "z-score each feature with training statistics (recommended)"),
        Option("normalize", bool, True, "normalise pixels with the dataset's mean/std before the network"),
        Option("init", str, "default", "weight init scheme", choices=INIT_SCHEMES),
        Option("bn_mode", str, "train", "BatchNorm: train = batch statistics, eval = running statistics",
               choices=("train", "eval")),
        Option("dtype", str, "auto", "feature extractor precision: auto = int8 for Conv2d/ReLU stacks (such as ksd) "
               "on x86 CPUs with VNNI, else bfloat16 where the device computes it natively, else float32; int8 = "
               "PyTorch's quantized kernels (x86 CPUs, Conv2d/ReLU stacks only; features within about 2 % of "
               "float32, the same ridge accuracy)",
               choices=("auto", "float32", "bfloat16", "int8")),
        Option("layout", str, "auto", "memory layout of the feature extractor: auto = channels_last (faster on "
               "CPUs and GPUs; the features differ from contiguous by rounding), contiguous, channels_last",
               choices=("auto", "contiguous", "channels_last")),
        Option("batch_size", int, 0, "images per forward pass of the feature extractor (speed and memory; the "
               "score too for BatchNorm nets with bn_mode = train, which normalise over each forward batch; "
               "0: per-device default, 32 on CPU, 256 on CUDA)", min=0, max=65536),
        Option("screen_val_acc", float, 0.0, "after trial 1, stop if val accuracy is below this (0: off)",
               min=0.0, max=1.0),
        Option("screen_throughput", float, 0.0, "after trial 1, stop if throughput (img/s) is below this (0: off)",
               min=0.0),
        Option("init_seed", str, "instance", "instance: initialisations drawn per evaluator instance; shared: the "
               "same for every instance (readouts compared on the same features, computed once)",
               choices=("instance", "shared"), neutral_default=True),
    ]
    metrics = [
        Metric("val_acc", "fraction", True, "mean validation accuracy over trials"),
        Metric("val_acc_std", "fraction", False, "population std of validation accuracy over trials", role=DESCRIPTION),
        Metric("val_acc_min", "fraction", True, "worst trial"),
        Metric("val_acc_max", "fraction", True, "best trial"),
        Metric("train_acc", "fraction", True, "mean training accuracy of the ridge fit"),
        Metric("throughput", "img/s", True, "feature-extractor images per second on the device", role=DESCRIPTION),
        Metric("ratio", "", False, "output elements / input elements", role=DESCRIPTION),
        Metric("features", "count", False, "flattened feature size", role=DESCRIPTION),
        Metric("params", "count", False, "parameters of the feature extractor", role=DESCRIPTION),
        Metric("flops", "MAC/img", False, "multiply-accumulates per image", role=DESCRIPTION),
        Metric("lambda", "", False, "ridge penalty used (mean over trials when chosen by LOO)", role=DESCRIPTION),
        Metric("trials", "count", True, "trials run (1 when screened)", role=DESCRIPTION),
        Metric("seconds", "s", False, "wall time of the evaluation", role=DESCRIPTION),
    ]

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        problems = []
        for key, ds_key in (("train_size", "train_size"), ("val_size", "test_size")):
            limit = dataset_options.get(ds_key)
            if limit is not None and self.config[key] > limit:
                problems.append((key, f"{self.config[key]} exceeds dataset.{ds_key} = {limit}"))
        return problems

    def prepare(self, ctx: RunContext) -> None:
        import torch

        from rcx.nn.features import choose_dtype, default_batch_size, stage_inputs
        from rcx.nn.int8 import int8_fast, int8_supported

        data, cfg = ctx.data, self.config
        for key, split, x in (("train_size", "train", data.train_x), ("val_size", "test", data.test_x)):
            if cfg[key] > x.shape[0]:
                raise ValueError(f"ridge_rfm.{key} = {cfg[key]} but the dataset's {split} split has "
                                 f"{x.shape[0]} images")
        dev = ctx.device
        self.device = dev
        self.in_shape = data.shape
        self.num_classes = data.num_classes
        self.train_x = data.train_x[: cfg["train_size"]].to(dev)
        self.train_y = data.train_y[: cfg["train_size"]].to(dev)
        self.val_x = data.test_x[: cfg["val_size"]].to(dev)
        self.val_y = data.test_y[: cfg["val_size"]].to(dev)
        c = data.shape[0]
        mean, std = (data.mean, data.std) if cfg["normalize"] else ((0.0,) * c, (1.0,) * c)
        self.normalize = Normalizer.create(mean, std, dev)
        self.int8 = cfg["dtype"] == "int8"
        self.int8_auto = cfg["dtype"] == "auto" and dev.type == "cpu" and int8_fast()  # per network, in evaluate
        if self.int8 and (dev.type != "cpu" or not int8_supported()):
            raise ValueError(f"ridge_rfm.dtype = int8 needs an x86 CPU (PyTorch's x86 quantized engine); this "
                             f"run's device is {dev}" + ("" if dev.type != "cpu" else " without that engine"))
        self.dtype = choose_dtype("auto" if self.int8 else cfg["dtype"], dev)  # int8: the calibration's precision
        if self.int8:
            self._check_int8_space(ctx.space, data.shape)
        self.batch_size = cfg["batch_size"] or default_batch_size(dev)
        self.channels_last = cfg["layout"] != "contiguous"
        self.inputs = stage_inputs([self.train_x, self.val_x], self.normalize, self.channels_last, STAGE_BYTES) \
            or [self.train_x, self.val_x]  # train, validation: staged float input, else uint8 (per batch)
        self.space = ctx.space
        self.data = data
        self.plan_seed = ctx.plan_seed
        self.lam_grid = torch.tensor(cfg["lambda_grid"], dtype=torch.float64) if cfg["lambda_grid"] else None

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        import numpy as np
        import torch

        from rcx.nn.features import ForwardTimer
        from rcx.nn.int8 import quantizable
        from rcx.nn.unread import skip_unread_outputs

        cfg, info = self.config, ctx.info
        t0 = time.perf_counter()
        model = self.space.build(ctx.arch, self.in_shape).to(self.device)
        skip_unread_outputs(model)  # the same features; some ksd stacks compute up to 86 % less
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train(cfg["bn_mode"] == "train")
        int8 = self.int8 or (self.int8_auto and quantizable(model))
        shared = cfg["init_seed"] == "shared"
        seed = derive_seed(self.plan_seed, self.name, ctx.arch.id) if shared else ctx.seed
        key = (ctx.arch.id, seed, cfg["init"], cfg["bn_mode"], cfg["normalize"], cfg["train_size"], cfg["val_size"],
               "int8" if int8 else str(self.dtype), self.batch_size, str(self.device), self.channels_last)
        cache = shared and 4 * info.features * (self.train_x.shape[0] + self.val_x.shape[0]) <= CACHE_BYTES
        warm = False  # the first forward batch for these shapes is not timed

        trials: list[dict[str, Any]] = []
        status = "done"
        for t in range(cfg["trials"]):
            ctx.check_cancel()
            feats = SHARED_FEATURES.get(self.data, self.space, key, t) if cache else None
            timer = ForwardTimer(skip=0 if warm else 1)
            if feats is None:
                warm = True
                init_weights(model, cfg["init"], generator(seed, "trial", t))
                net = self._quantize(model) if int8 else model
                if cache:
                    feats = self._features(net, ctx, timer, int8)
                    SHARED_FEATURES.put(self.data, self.space, key, t, feats)
            if feats is None:  # streamed: the features are never held whole
                trial = self._readout(self._stream(net, self.inputs[0], timer, ctx, int8),
                                      self._stream(net, self.inputs[1], timer, ctx, int8), info.features)
                trial["throughput"] = timer.throughput
            else:
                trial = self._readout(self._batches(feats.train), self._batches(feats.val), info.features)
                trial["throughput"] = feats.throughput
            trials.append(trial)
            ctx.progress((t + 1) / cfg["trials"], f"trial {t + 1}/{cfg['trials']}: val_acc {trials[-1]['val_acc']:.4f}")
            if t == 0 and self._screened(trials[0]):
                status = "screened"
                break

        accs = np.array([tr["val_acc"] for tr in trials])
        metrics: dict[str, float | None] = {
            "val_acc": float(accs.mean()),
            "val_acc_std": float(accs.std()),
            "val_acc_min": float(accs.min()),
            "val_acc_max": float(accs.max()),
            "train_acc": float(np.mean([tr["train_acc"] for tr in trials])),
            "throughput": float(np.mean([tr["throughput"] for tr in trials])),
            "ratio": info.ratio,
            "features": info.features,
            "params": info.params,
            "flops": info.flops,
            "lambda": float(np.mean([tr["lambda"] for tr in trials])),
            "trials": len(trials),
            "seconds": time.perf_counter() - t0,
        }
        extra = {
            "dtype": "int8" if int8 else str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
            "solver": sorted({tr["solver"] for tr in trials}),
        }
        return EvalResult(status, metrics, trials, extra)

    def _stream(self, model: torch.nn.Module, images: torch.Tensor, timer: ForwardTimer,
                ctx: EvalContext, int8: bool = False) -> Iterator[tuple[slice, torch.Tensor]]:
        """``(rows, features)`` batches of ``images`` (uint8, or the staged float input) through
        ``model`` (an int8 stack when ``int8``), checking for cancel."""
        import torch

        from rcx.nn.features import batched_features

        normalize = None if images.is_floating_point() else self.normalize
        dtype = torch.float32 if int8 else self.dtype  # int8: the quantized stack quantizes float32 input
        for rows, feats in batched_features(model, images, normalize, self.batch_size, dtype, timer,
                                            self.channels_last):
            yield rows, feats
            ctx.check_cancel()

    @staticmethod
    def _check_int8_space(space: SearchSpace, in_shape: tuple[int, int, int], probes: int = 8) -> None:
        """With ``dtype = "int8"`` forced: ``ValueError`` before the first candidate when none of
        ``probes`` architectures spread over ``space`` (canonical order) can run in int8, so a
        space of BatchNorm networks fails once, at the start, not once per candidate. A space
        with some quantizable networks passes; its others fail one by one, each saying why."""
        from rcx.nn.int8 import refusal

        n = len(space)
        why: str | None = None
        for index in sorted({i * n // probes for i in range(probes)} if n else set()):
            try:
                why = refusal(space.build(space.arch_at(index), in_shape))
            except (InvalidArchitecture, ValueError):
                continue  # does not fit this input: says nothing about int8
            if why is None:
                return
        if why is not None:
            raise ValueError(f"ridge_rfm.dtype = int8 runs Conv2d/ReLU stacks only (e.g. the ksd space), and "
                             f"{space.name}'s networks are not ({why}); use dtype = \"auto\" (bfloat16 or float32 "
                             f"here, int8 where a network allows it)")

    def _quantize(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` (initialised) as an int8 stack (:func:`rcx.nn.int8.quantize_stack`), its activation
        ranges observed on the first training batch (the network's float input) in ``self.dtype``."""
        import torch

        from rcx.nn.int8 import quantize_stack

        x = self.inputs[0][: self.batch_size]
        if not x.is_floating_point():  # not staged: normalise as batched_features does
            x = self.normalize(x)
            x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        return quantize_stack(model, x, self.dtype)

    def _batches(self, feats: torch.Tensor) -> list[tuple[slice, torch.Tensor]]:
        """Whole features as the batches the stream would have given: the readout adds them in the
        same order, so cached and streamed features give bit-identical results."""
        b = self.batch_size
        return [(slice(i, min(i + b, feats.shape[0])), feats[i:i + b]) for i in range(0, feats.shape[0], b)]

    def _features(self, model: torch.nn.Module, ctx: EvalContext, timer: ForwardTimer,
                  int8: bool = False) -> TrialFeatures:
        """One initialisation's train and validation features, whole, and the throughput."""
        import torch

        train, val = (torch.cat([f for _, f in self._stream(model, x, timer, ctx, int8)]) for x in self.inputs)
        return TrialFeatures(train, val, timer.throughput)

    def _readout(self, train: Iterable[tuple[slice, torch.Tensor]], val: Iterable[tuple[slice, torch.Tensor]],
                 d: int) -> dict[str, Any]:
        """One initialisation's readout: ridge fit on the ``train`` feature batches (B, d), then
        accuracy on the ``val`` batches."""
        import torch

        from rcx.nn.ridge import RidgeAccumulator

        cfg = self.config
        acc = RidgeAccumulator(self.train_x.shape[0], d, self.num_classes, targets=cfg["targets"],
                               standardize=cfg["standardize"], device=self.device)
        for rows, feats in train:
            acc.add(feats, self.train_y[rows])
        ridge = acc.fit(cfg["lambda"], self.lam_grid)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for rows, feats in val:
            correct += (ridge.predict(feats) == self.val_y[rows]).sum()
        return {
            "val_acc": correct.item() / self.val_x.shape[0],
            "train_acc": ridge.train_acc,
            "lambda": ridge.lam,
            "solver": ridge.solver,
        }

    def _screened(self, first: dict[str, Any]) -> bool:
        cfg = self.config
        return (cfg["screen_val_acc"] > 0 and first["val_acc"] < cfg["screen_val_acc"]) or (
            cfg["screen_throughput"] > 0 and first["throughput"] < cfg["screen_throughput"]
        )
