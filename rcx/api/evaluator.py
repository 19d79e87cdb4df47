"""The evaluator interface: what a proxy declares, receives and returns."""

from __future__ import annotations

import inspect
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.dataset import ImageDataset
from rcx.api.device import Normalizer
from rcx.api.options import Metric, Option
from rcx.api.seeding import generator

if TYPE_CHECKING:
    import torch
    from torch import nn


class Cancelled(Exception):
    """Raised inside an evaluation when the run was cancelled; nothing is recorded for it."""


class InvalidArchitecture(Exception):
    """The architecture cannot be evaluated on this input (recorded as ``invalid``)."""


@dataclass(init=False)
class RunContext:
    """What an evaluator gets once per run, in :meth:`Evaluator.prepare`.

    ``data`` is the prepared dataset (uint8 tensors on the CPU); evaluators move what they need
    to ``device`` once. ``plan_seed`` is the plan's seed (the run's; an evaluation's own seed,
    derived from it, is :attr:`EvalContext.seed`). ``seed`` is the old name of ``plan_seed``:
    it still works, as an argument and an attribute, with a ``DeprecationWarning``.
    """

    data: ImageDataset
    space: SearchSpace
    device: torch.device
    plan_seed: int

    def __init__(self, data: ImageDataset, space: SearchSpace, device: torch.device, plan_seed: int | None = None,
                 *, seed: int | None = None) -> None:
        if seed is not None:
            _warn_seed()
            if plan_seed is None:
                plan_seed = seed
        if plan_seed is None:
            raise TypeError("RunContext() needs plan_seed")
        self.data, self.space, self.device, self.plan_seed = data, space, device, plan_seed

    @property
    def seed(self) -> int:
        """Deprecated: :attr:`plan_seed`."""
        _warn_seed()
        return self.plan_seed


def _warn_seed() -> None:
    warnings.warn("RunContext.seed is deprecated: use RunContext.plan_seed (the plan's seed; EvalContext.seed "
                  "is each evaluation's own seed)", DeprecationWarning, stacklevel=3)


@dataclass
class EvalContext:
    """What an evaluator gets for one candidate.

    ``seed`` is derived from (plan seed, evaluator instance name, architecture id): draw every
    random number from ``rcx.api.generator(ctx.seed, "trial", i)`` (a seeded CPU
    ``torch.Generator``; ``derive_seed`` gives the same seed as an int for other libraries).
    ``progress(fraction, message)`` reports progress inside the evaluation (never print).
    ``check_cancel()`` raises :class:`Cancelled` when the run is being stopped: call it
    between batches or trials.
    ``curve(step, epoch, metrics)`` records one learning-curve point (e.g. per epoch:
    ``step`` optimiser steps and ``epoch`` epochs done, ``metrics`` such as ``{"train_loss":
    ..., "val_acc": ...}``, JSON scalars); the runner stores it and emits a ``CurvePoint``
    event. A cancelled or restarted evaluation's points are discarded.
    """

    arch: Arch
    info: ArchInfo
    seed: int
    device: torch.device
    cancel_event: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[float, str], None] = lambda fraction, message: None
    curve: Callable[[int, float, dict[str, Any]], None] = lambda step, epoch, metrics: None

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()


@dataclass
class EvalResult:
    """The outcome of one (candidate, evaluator).

    ``status``: ``done`` or an evaluator-specific final status such as ``screened``.
    ``metrics``: scalar metrics named as declared in ``Evaluator.metrics`` (None: no value,
    stored as null).
    ``trials``: per-trial metric dicts. ``extra``: anything else worth keeping (dtype, batch
    size, solver...), stored as JSON.
    """

    status: str
    metrics: dict[str, float | None]
    trials: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FixedBatch:
    """One seeded batch of training images for a whole run, and the networks it feeds.

    Evaluators that score every candidate on the same images (common random numbers) draw it
    once in :meth:`Evaluator.prepare` with :meth:`draw` and build each candidate with
    :meth:`build`. ``x``: (B, C, H, W) float32 on ``device``, normalised with the dataset's
    mean/std (or only scaled to [0, 1]); ``y``: (B,) int64 labels on ``device``; ``index``:
    (B,) positions of the images in the training split (CPU).
    """

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    space: SearchSpace
    in_shape: tuple[int, int, int]
    num_classes: int
    device: torch.device

    @classmethod
    def draw(cls, ctx: RunContext, size: int, stream: str, normalize: bool = True,
             transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> FixedBatch:
        """``size`` training images drawn without replacement from ``generator(ctx.plan_seed, stream,
        "batch")``: the same batch for every candidate, evaluation order and resume. Evaluators
        that name the same ``stream`` share the batch. ``transform``, when given, maps the drawn
        uint8 images (B, C, H, W) on the CPU to uint8 images of the same shape before they move
        to the device and are normalised (e.g. one fixed augmentation, drawn from its own
        ``generator``). Raises ``ValueError`` when the training split holds fewer than ``size``
        images."""
        import torch

        data, dev = ctx.data, ctx.device
        n = data.train_x.shape[0]
        if size > n:
            raise ValueError(f"{stream}: a batch of {size} images but the dataset's train split has {n}")
        idx = torch.randperm(n, generator=generator(ctx.plan_seed, stream, "batch"))[:size]
        c = data.shape[0]
        mean, std = (data.mean, data.std) if normalize else ((0.0,) * c, (1.0,) * c)
        images = data.train_x[idx]  # (B, C, H, W) uint8
        if transform is not None:
            images = transform(images)
        x = Normalizer.create(mean, std, dev)(images.to(dev))
        return cls(x, data.train_y[idx].to(dev), idx, ctx.space, data.shape, data.num_classes, dev)

    def build(self, arch: Arch, head: bool = True) -> nn.Module:
        """The candidate on ``device``: its classifier (the space's ``build_classifier``: (B, C, H,
        W) -> logits (B, num_classes)) with ``head``, else its feature extractor (``build``:
        (B, C, H, W) -> (B, C', H', W')). Weights are PyTorch's defaults: re-initialise them
        with ``init_weights``."""
        if head:
            return self.space.build_classifier(arch, self.in_shape, self.num_classes).to(self.device)
        return self.space.build(arch, self.in_shape).to(self.device)


def build_every_edge(space: SearchSpace, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
    """The space's feature extractor with every operation computed, also those that cannot
    reach the output. Spaces that skip such work (``nb201`` prunes edges that cannot reach a
    cell's output; its ``build`` takes ``prune_unreachable``) build it unpruned: the output is
    identical, but proxies that hook activations (NASWOT's ReLU codes, Zen-NAS's BatchNorm
    variances) see every module the benchmark's reference code runs. Other spaces: ``build``."""
    if "prune_unreachable" in inspect.signature(space.build).parameters:
        build: Callable[..., nn.Module] = space.build  # a keyword the base class's signature lacks
        return build(arch, in_shape, prune_unreachable=False)
    return space.build(arch, in_shape)


class Evaluator(ABC):
    """Base class of evaluators (proxies). Subclasses declare ``name``, ``version``,
    ``options`` (validated by the plan validator) and ``metrics`` (name, unit, direction).

    One instance evaluates many candidates: :meth:`prepare` runs once per run (move data to the
    device, choose an execution path), :meth:`evaluate` once per candidate.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    help: ClassVar[str] = ""
    options: ClassVar[list[Option]] = []
    metrics: ClassVar[list[Metric]] = []
    statuses: ClassVar[tuple[str, ...]] = ("done",)
    #: Metrics shown in progress lines and run summaries; empty means the first two declared.
    headline: ClassVar[tuple[str, ...]] = ()
    #: What to change when an evaluation runs out of device memory (ends the one-line message).
    out_of_memory_hint: ClassVar[str] = "lower the evaluator's batch_size"

    def __init__(self, options: dict[str, Any]) -> None:
        self.config = {o.name: o.default for o in self.options} | options

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        """Cross-checks against the rest of the plan, as ``(key path, message)`` problems."""
        return []

    def prepare(self, ctx: RunContext) -> None:  # noqa: B027  (optional hook, empty by default)
        """Once per run, before the first candidate."""

    @abstractmethod
    def evaluate(self, ctx: EvalContext) -> EvalResult:
        """Evaluate one candidate. Raise :class:`InvalidArchitecture` if it cannot run on
        this input; any other exception marks the evaluation ``failed``."""

    def check_batch_fits(self, dataset_options: dict[str, Any], option: str = "batch_size") -> list[tuple[str, str]]:
        """A :meth:`check_plan` problem when the option ``option`` (images drawn from the
        training split at once) exceeds the plan's ``dataset.train_size``."""
        limit, size = dataset_options.get("train_size"), self.config[option]
        if limit is not None and size > limit:
            return [(option, f"{size} exceeds dataset.train_size = {limit}")]
        return []

    @classmethod
    def headline_metrics(cls) -> tuple[str, ...]:
        return cls.headline or tuple(m.name for m in cls.metrics[:2])

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)
