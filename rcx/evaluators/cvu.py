"""CV_U: the coefficient of variation of untrained accuracy over random initialisations
(seed 002, Gracheva: Algorithm 2, equation 1).

Per architecture: ``n_init`` random initialisations of its classifier (the space's
``build_classifier``: for ``nb201`` the benchmark's own GAP + linear classifier, for conv stacks
without one rcx's GAP + random linear head), each forwarding the same fixed batch of
``batch_size`` training images. ``U_i`` is the accuracy of the untrained network's own argmax
prediction on the batch; ``mu_u`` is their mean, ``sigma_u`` their population standard
deviation (divisor ``n_init``, as in the paper) and ``cv_u = sigma_u / mu_u`` (lower is
better). An architecture with ``sigma_u = 0`` (e.g. a cell of ``none``/``skip_connect`` only:
every initialisation predicts one class) gets status ``degenerate`` and no ``cv_u``; the paper
excludes such architectures from selection.

Common random numbers: initialisation ``i`` is drawn from ``(plan seed, "cvu", "init", i)`` for
every architecture, and the batch is drawn once per run from ``(plan seed, "cvu", "batch")``
(a seeded subset of the training split, the same for every architecture and evaluation order).

``augment = true`` (default) passes the fixed batch once through the training transform, as the
reference code does (its batch comes from the training loader: ``RandomHorizontalFlip`` and
``RandomCrop(32, padding=4)`` with zero padding): one crop offset and one flip bit per image,
drawn from ``(plan seed, "cvu", "augment")``, so every architecture still sees the very same
(augmented) batch. ``augment = false`` takes the images as they are (rcx's behaviour before the
option existed).

Defaults follow the CV_U reference code: ``init = "kaiming_normal"`` (He normal, fan-out, zero
biases) and ``bn_mode = "train"`` (BatchNorm on the batch's statistics; the reference runs the
nets in train mode). Execution (``path = "auto"``): one initialisation after the other on a
CPU (bf16 autocast where the CPU has it natively, channels-last), stacked initialisations
through ``torch.func.vmap`` in memory-sized chunks on CUDA. With bf16, the first
``bf16_check`` initialisations run in both precisions first; if any ``U_i`` differs by more than
``bf16_tolerance`` the architecture continues in float32 (keeping the float32 ``U_i``). The check
(largest and mean ``|U_i(bf16) - U_i(float32)|``, fraction of identical predictions, verdict)
is recorded in the evaluation's ``extra`` (``bf16_check``). Untrained networks have small logit
margins: on NAS-Bench-201 about a tenth of the predictions flip between bf16 and float32 while
the accuracies move by a few images of 256 (BENCHMARKS.md).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rcx.api.evaluator import EvalContext, EvalResult, Evaluator, FixedBatch, RunContext
from rcx.api.init import INIT_SCHEMES
from rcx.api.options import DESCRIPTION, Metric, Option
from rcx.api.seeding import generator

if TYPE_CHECKING:
    import torch



class CVU(Evaluator):
    name = "cvu"
    version = "2"
    help = "Coefficient of variation of untrained accuracy over N_init inits (seed 002); lower is better."
    headline = ("cv_u", "mu_u", "sigma_u")
    statuses = ("done", "degenerate")
    out_of_memory_hint = ("set a smaller chunk (initialisations per batched call; 0 sizes it to half the device's "
                          "free memory) or run fewer evaluations per GPU")
    options = [
        Option("n_init", int, 100, "random initialisations per architecture (the same seeds for every one)", min=2,
               max=100_000),
        Option("batch_size", int, 256, "size of the one fixed scoring batch (drawn once per run from the "
               "training split) whose untrained accuracy is measured per init: changes the score (seed 002: 256)",
               min=1, max=65536),
        Option("init", str, "kaiming_normal", "weight init: kaiming_normal = He normal fan-out (reference code), "
               "kaiming_uniform = He uniform (the MNIST study), default = PyTorch's", choices=INIT_SCHEMES),
        Option("bn_mode", str, "train", "BatchNorm: train = batch statistics (reference code), eval = fresh "
               "running statistics", choices=("train", "eval")),
        Option("dtype", str, "auto", "forward precision (auto: bf16 where native, checked against float32)",
               choices=("auto", "float32", "bfloat16")),
        Option("bf16_check", int, 3, "with bf16: initialisations also run in float32 to check agreement", min=1),
        Option("bf16_tolerance", float, 0.02, "largest |U_i(bf16) - U_i(float32)| accepted (0.02: 5 of 256 "
               "images); else float32", min=0.0),
        Option("path", str, "auto", "auto: loop on CPU, batched on CUDA; loop: one init at a time; batched: "
               "stacked inits through torch.func.vmap", choices=("auto", "loop", "batched")),
        Option("chunk", int, 0, "batched path: initialisations per vmap call (0: sized to device memory)", min=0),
        Option("normalize", bool, True, "normalise pixels with the dataset's mean/std"),
        Option("augment", bool, True, "pass the fixed batch once through pad-4 random crop + horizontal flip "
               "(seeded, the same for every architecture), as the reference code's training transform does"),
    ]
    metrics = [
        Metric("cv_u", "", False, "sigma_u / mu_u (absent when degenerate)"),
        Metric("mu_u", "fraction", True, "mean untrained accuracy over initialisations"),
        Metric("sigma_u", "fraction", False, "population std of untrained accuracy over initialisations",
               role=DESCRIPTION),
        Metric("u_min", "fraction", True, "lowest untrained accuracy", role=DESCRIPTION),
        Metric("u_max", "fraction", True, "highest untrained accuracy", role=DESCRIPTION),
        Metric("params", "count", False, "parameters of the classifier (network + head)", role=DESCRIPTION),
        Metric("seconds", "s", False, "wall time of the evaluation", role=DESCRIPTION),
    ]

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        return self.check_batch_fits(dataset_options)

    def prepare(self, ctx: RunContext) -> None:
        import torch

        from rcx.nn.features import choose_dtype
        from rcx.nn.train import EpochDraws, crop_flip

        data, cfg, dev = ctx.data, self.config, ctx.device
        n = data.train_x.shape[0]
        if cfg["batch_size"] > n:
            raise ValueError(f"cvu.batch_size = {cfg['batch_size']} but the dataset's train split has {n} images")

        def augment(images: torch.Tensor) -> torch.Tensor:
            """Crop offsets and flips of one "epoch" over the batch (its order is unused)."""
            draws = EpochDraws(images.shape[0], generator(ctx.plan_seed, "cvu", "augment"), torch.device("cpu"))
            return crop_flip(images, draws.dy, draws.dx, draws.flip)

        batch = FixedBatch.draw(ctx, cfg["batch_size"], "cvu", normalize=cfg["normalize"],
                                transform=augment if cfg["augment"] else None)
        self.path = cfg["path"] if cfg["path"] != "auto" else ("batched" if dev.type == "cuda" else "loop")
        self.channels_last = self.path == "loop"
        x = batch.x  # (B, C, H, W) float32
        self.x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        self.y = batch.y  # (B,)
        self.batch_index = batch.index
        self.device, self.space, self.seed = dev, ctx.space, ctx.plan_seed
        self.in_shape, self.num_classes = data.shape, data.num_classes
        self.dtype = choose_dtype(cfg["dtype"], dev)

    def _generators(self, inits: range) -> list[torch.Generator]:
        return [generator(self.seed, "cvu", "init", i) for i in inits]

    def _accuracies(self, model: torch.nn.Module, inits: range, dtype: torch.dtype,
                    ctx: EvalContext) -> tuple[torch.Tensor, int, torch.Tensor]:
        """U_i for the initialisations ``inits`` as (len(inits),) float64 on the CPU, the
        initialisations per forward call (1 on the loop path), and the predictions
        (len(inits), B) on the device."""
        import torch

        from rcx.nn.multi_init import auto_chunk, batched_logits, loop_logits

        gens = self._generators(inits)
        chunk = 1
        if self.path == "batched":
            chunk = self.config["chunk"] or auto_chunk(model, self.x, dtype, len(gens))
            chunks = batched_logits(model, self.config["init"], gens, self.x, dtype, chunk,
                                    self.config["bn_mode"] == "train")
        else:
            chunks = loop_logits(model, self.config["init"], gens, self.x, dtype)
        preds = []
        for logits in chunks:  # (k, B, K)
            preds.append(logits.argmax(-1))
            done = sum(p.shape[0] for p in preds)
            ctx.check_cancel()
            if done % 10 == 0 or done == len(gens):
                ctx.progress(done / len(gens), f"init {done}/{len(gens)}")
        pred = torch.cat(preds)
        return (pred == self.y).sum(-1).cpu().double() / self.y.numel(), chunk, pred

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        import numpy as np
        import torch

        cfg = self.config
        t0 = time.perf_counter()
        model = self.space.build_classifier(ctx.arch, self.in_shape, self.num_classes).to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train(cfg["bn_mode"] == "train")
        inits = range(cfg["n_init"])

        dtype, check = self.dtype, None
        if dtype == torch.float32:
            u, chunk, _ = self._accuracies(model, inits, dtype, ctx)
        else:  # the first k inits in both precisions; the rest in whichever passed
            k = min(cfg["bf16_check"], cfg["n_init"])
            u32, _, p32 = self._accuracies(model, range(k), torch.float32, ctx)
            u16, chunk, p16 = self._accuracies(model, range(k), dtype, ctx)
            diff = (u16 - u32).abs()
            check = {"inits": k, "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                     "same_predictions": float((p16 == p32).double().mean()), "tolerance": cfg["bf16_tolerance"],
                     "agrees": bool(diff.max() <= cfg["bf16_tolerance"])}
            first = u16 if check["agrees"] else u32
            dtype = dtype if check["agrees"] else torch.float32
            u = first
            if k < cfg["n_init"]:
                rest, chunk, _ = self._accuracies(model, range(k, cfg["n_init"]), dtype, ctx)
                u = torch.cat([first, rest])

        values = u.numpy()
        mu, sigma = float(values.mean()), float(values.std())  # population std (ddof 0), as in the paper
        degenerate = sigma == 0.0
        metrics: dict[str, Any] = {
            "cv_u": None if degenerate else sigma / mu,
            "mu_u": mu,
            "sigma_u": sigma,
            "u_min": float(values.min()),
            "u_max": float(values.max()),
            "params": sum(p.numel() for p in model.parameters()),
            "seconds": time.perf_counter() - t0,
        }
        extra = {
            "dtype": str(dtype).removeprefix("torch."),
            "bf16_check": check,
            "path": self.path,
            "chunk": chunk,
            "channels_last": self.channels_last,
            "batch_size": int(self.y.numel()),
            "batch_classes": np.bincount(self.y.cpu().numpy(), minlength=self.num_classes).tolist(),
        }
        trials = [{"init": i, "u": float(v)} for i, v in zip(inits, values)]
        return EvalResult("degenerate" if degenerate else "done", metrics, trials, extra)
