"""What the training evaluators (``trained``, ``lc_frozen``, ``partial_filters``) share.

Each builds the space's module, adds rcx's classifier head (flatten + linear, as in seed 000;
for ``resnet_lc`` and ``torchvision`` models, which end at a global average pool, this is their
usual classifier), initialises every layer from the evaluation seed (``init``, PyTorch's
default scheme unless set), applies its own model transform, and trains with the shared loop
(``rcx.nn.train``): per-epoch learning-curve points go to the store through ``ctx.curve``.

Data: the first ``train_size`` training images (0: all of the dataset's train split) train,
the first ``val_size`` test-split images (0: all) validate. Seeds: weights from
``(evaluation seed, "init")``, data order and augmentation from ``(evaluation seed, "train")``;
the evaluation seed itself derives from (plan seed, evaluator instance, architecture id).

Layout (``layout``): ``auto`` trains channels-last (NHWC) on CUDA and contiguous (NCHW)
elsewhere, as rcx did before the option existed, so plans that leave it unset keep their
identity and their results. ``channels_last`` trains NHWC on a CPU too: the same function,
about 1.3x cheaper per step there for 3x3 networks, hardly for 7x7 ones (BENCHMARKS.md), its
results different from contiguous ones by float rounding that training amplifies;
``contiguous`` trains NCHW on CUDA too.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rcx.api.evaluator import EvalContext, EvalResult, Evaluator, RunContext
from rcx.api.init import INIT_SCHEMES, init_weights
from rcx.api.options import DESCRIPTION, Metric, Option
from rcx.api.seeding import derive_seed, generator

if TYPE_CHECKING:
    from torch import nn

    from rcx.nn.train import Classifier, TrainOutcome

TRAIN_METRICS = [
    Metric("val_acc", "fraction", True, "validation accuracy after the last step"),
    Metric("train_loss", "nats", False, "mean training loss of the last epoch (augmented, label-smoothed)"),
    Metric("tse", "nats", False, "training speed estimate (Ru et al., NeurIPS 2021): the sum over epochs of each "
           "epoch's mean training loss; equals train_loss after one epoch"),
    Metric("epochs", "count", True, "epochs completed (fractional under a step budget)", role=DESCRIPTION),
    Metric("seconds", "s", False, "wall time of the evaluation", role=DESCRIPTION),
    Metric("diverged_step", "step", True, "step (1-based) of the first non-finite loss; only when diverged",
           role=DESCRIPTION),
]


LAYOUT = Option(
    "layout", str, "auto", "memory layout of the network and batches: auto = channels_last on CUDA, contiguous "
    "elsewhere (rcx's layout before the option); channels_last = NHWC on any device (on a CPU about 1.3x "
    "cheaper training of 3x3 networks; results differ from contiguous by float rounding grown over "
    "training); contiguous = NCHW",
    choices=("auto", "contiguous", "channels_last"), neutral_default=True)
"""Added after results were published: at ``auto`` it stays out of a plan's identity."""


def channels_last(layout: str, device_type: str) -> bool:
    """Whether the ``layout`` option trains channels-last on a device of type ``device_type``
    (``"cpu"``, ``"cuda"``, ...): ``auto`` means on CUDA only."""
    return layout == "channels_last" or (layout == "auto" and device_type == "cuda")


def train_options(*, epochs: int, batch_size: int, lr: float, min_lr: float, momentum: float, nesterov: bool,
                  weight_decay: float, label_smoothing: float) -> list[Option]:
    """The training options every training evaluator declares, with its own defaults."""
    return [
        Option("epochs", int, epochs, "training epochs (each: train_size // batch_size steps)", min=1,
               max=100_000),
        Option("steps", int, 0, "optimiser-step budget instead of epochs (0: use epochs)", min=0,
               max=10**9),
        Option("batch_size", int, batch_size, "training minibatch: images per SGD step (changes the result; "
               "validation batches are eval_batch_size)", min=1, max=65536),
        Option("lr", float, lr, "peak learning rate: per-step cosine from lr down to min_lr", min=0.0, gt_min=True),
        Option("min_lr", float, min_lr, "learning rate the cosine reaches at the last step", min=0.0),
        Option("momentum", float, momentum, "SGD momentum", min=0.0, max=0.999),
        Option("nesterov", bool, nesterov, "Nesterov momentum"),
        Option("weight_decay", float, weight_decay, "L2 weight decay (SGD's), on learnable parameters only", min=0.0),
        Option("label_smoothing", float, label_smoothing, "cross-entropy label smoothing", min=0.0, max=0.99),
        Option("augment", bool, True, "pad-4 random crop + horizontal flip, on the device"),
        Option("normalize", bool, True, "normalise pixels with the dataset's mean/std"),
        Option("train_size", int, 0, "training images: the first N of the train split (0: all)", min=0),
        Option("val_size", int, 0, "validation images: the first N of the test split (0: all)", min=0),
        Option("eval_every", int, 1, "validate every N epochs for the learning curve (0: only at the end)", min=0),
        Option("init", str, "default", "weight init scheme", choices=INIT_SCHEMES),
        Option("dtype", str, "auto", "autocast: auto = bfloat16 on CUDA, float32 elsewhere",
               choices=("auto", "float32", "bfloat16")),
        LAYOUT,
        Option("eval_batch_size", int, 0, "images per validation batch (0: 500 on CPU, 1024 on CUDA)", min=0),
    ]


def param_counts(model: nn.Module) -> tuple[int, int]:
    """(learnable, frozen) parameter elements: frozen counts parameters without gradient and
    the frozen slices that partial-filter convs keep as buffers."""
    learnable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    frozen += sum(b.numel() for name, b in model.named_buffers() if name.rsplit(".", 1)[-1].startswith("frozen_"))
    return learnable, frozen


class TrainingEvaluator(Evaluator):
    """Base of the training evaluators: subclasses implement :meth:`setup` (init + transform)
    and may add metrics in :meth:`after_training`."""

    statuses = ("done", "diverged")

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        cfg, problems = self.config, []
        for key, ds_key in (("train_size", "train_size"), ("val_size", "test_size")):
            limit = dataset_options.get(ds_key)
            if cfg[key] and limit is not None and cfg[key] > limit:
                problems.append((key, f"{cfg[key]} exceeds dataset.{ds_key} = {limit}"))
        if cfg["min_lr"] > cfg["lr"]:
            problems.append(("min_lr", f"{cfg['min_lr']} is above lr = {cfg['lr']}"))
        if cfg["nesterov"] and cfg["momentum"] == 0:
            problems.append(("nesterov", "Nesterov needs momentum > 0"))
        return problems

    def prepare(self, ctx: RunContext) -> None:
        import torch

        from rcx.nn.features import cuda_has_bf16
        from rcx.nn.train import DeviceData, TrainConfig

        cfg, data = self.config, ctx.data
        sizes = (("train_size", "train", data.train_x.shape[0]), ("val_size", "test", data.test_x.shape[0]))
        for key, split, n in sizes:
            if cfg[key] > n:
                raise ValueError(f"{self.name}.{key} = {cfg[key]} but the dataset's {split} split has {n} images")
        self.device = ctx.device
        self.space = ctx.space
        self.in_shape = data.shape
        self.data = DeviceData.from_dataset(data, ctx.device, cfg["train_size"], cfg["val_size"], cfg["normalize"])
        cuda = ctx.device.type == "cuda"
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(cfg["dtype"])
        self.train_config = TrainConfig(
            epochs=cfg["epochs"], steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"], min_lr=cfg["min_lr"],
            momentum=cfg["momentum"], nesterov=cfg["nesterov"], weight_decay=cfg["weight_decay"],
            label_smoothing=cfg["label_smoothing"], augment=cfg["augment"], eval_every=cfg["eval_every"],
            eval_batch_size=cfg["eval_batch_size"] or (1024 if cuda else 500),
            dtype=dtype or (torch.bfloat16 if cuda_has_bf16(ctx.device) else torch.float32),
            channels_last=channels_last(cfg["layout"], ctx.device.type),
        )

    def init(self, model: nn.Module, ctx: EvalContext) -> None:
        """Initialise every conv/linear/BN layer from ``(evaluation seed, "init")``."""
        init_weights(model, self.config["init"], generator(ctx.seed, "init"))

    def setup(self, model: Classifier, ctx: EvalContext) -> dict[str, Any]:
        """Initialise and transform ``model`` in place; return metrics known before training."""
        raise NotImplementedError

    def after_training(self, model: Classifier, outcome: TrainOutcome) -> dict[str, Any]:
        """Metrics computed from the trained model (only when training finished)."""
        return {}

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        import torch

        from rcx.nn.train import Classifier, TrainHooks, train

        t0, c0 = time.perf_counter(), time.process_time()
        tc = self.train_config
        model = Classifier(self.space.build(ctx.arch, self.in_shape), ctx.info.features, self.data.num_classes)
        metrics = self.setup(model, ctx)
        model.to(self.device)
        if tc.channels_last:
            model.to(memory_format=torch.channels_last)
        hooks = TrainHooks(check_cancel=ctx.check_cancel, point=ctx.curve, progress=ctx.progress)
        outcome = train(model, self.data, tc, derive_seed(ctx.seed, "train"), hooks)
        metrics["epochs"] = outcome.epochs
        if outcome.status == "done":
            metrics |= {"val_acc": outcome.val_acc, "train_loss": outcome.train_loss, "tse": outcome.tse}
            metrics |= self.after_training(model, outcome)
        else:
            metrics["diverged_step"] = outcome.diverged_step
        metrics["seconds"] = time.perf_counter() - t0
        extra = {
            "steps": outcome.steps, "train_seconds": outcome.train_seconds,
            "train_cpu_seconds": outcome.train_cpu_seconds, "cpu_seconds": time.process_time() - c0,
            "batch_size": tc.batch_size,
            "dtype": str(tc.dtype).removeprefix("torch."),
            "layout": "channels_last" if tc.channels_last else "contiguous",
            "train_images": int(self.data.train_x.shape[0]), "val_images": int(self.data.val_x.shape[0]),
        }
        if outcome.status == "diverged":
            extra["diverged"] = f"non-finite training loss at step {outcome.diverged_step} (lower lr)"
        return EvalResult(outcome.status, metrics, [], extra)
