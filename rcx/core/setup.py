"""Setting a run up: a plan's dataset, space, candidates and evaluators, built once per process.

The driver (:class:`~rcx.core.runner.Runner`) and every remote worker
(:class:`~rcx.exec.worker.EvalWorker`) set a run up with the same two functions:
:func:`set_up` loads the dataset through its provider, builds the search space and the
evaluator instances (nothing prepared yet, nothing written), and :func:`prepare_evaluators`
prepares those instances on a device (what an evaluator does once per run: move data, build
shared tensors). The driver also samples and describes the candidates (:func:`make_candidates`)
and checks the evaluators against the dataset's real sizes (:func:`check_data`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.dataset import ImageDataset
from rcx.api.evaluator import Evaluator, RunContext
from rcx.core.plan import Plan
from rcx.plugins import Registry


class DataMismatch(ValueError):
    """The loaded dataset cannot serve the plan (e.g. an evaluator wants more images than it has)."""


@dataclass
class Candidate:
    """One sampled architecture: its position in the plan's sample, the architecture, and its
    description at the dataset's input shape (validity, params, FLOPs, ...)."""

    index: int
    arch: Arch
    info: ArchInfo


@dataclass
class RunSetup:
    """What one process needs to evaluate a plan: the prepared dataset (uint8 tensors on the
    CPU), the search space and the evaluator instances by instance name, in plan order."""

    data: ImageDataset
    space: SearchSpace
    evaluators: dict[str, Evaluator]


def load_data(plan: Plan, registry: Registry) -> ImageDataset:
    """Load the plan's dataset through its provider and apply the common options."""
    from rcx.api.dataset_cache import cache_dir
    from rcx.core.data_prep import COMMON_OPTIONS, prepare

    common = {o.name for o in COMMON_OPTIONS}
    provider = registry.get("dataset", plan.dataset)()
    raw = provider.load({k: v for k, v in plan.dataset_options.items() if k not in common}, cache_dir())
    return prepare(raw, {k: v for k, v in plan.dataset_options.items() if k in common}, plan.seed)


def make_candidates(plan: Plan, space: SearchSpace, in_shape: tuple[int, int, int]) -> list[Candidate]:
    """The sampler's architectures, each described at the dataset's input shape."""
    from rcx.core.samplers import sample

    s = plan.sampler
    if s["kind"] == "optuna":  # proposed during the run (Runner._search)
        return []
    archs = sample(space, s["kind"], s["n"], plan.seed, s["valid_only"], in_shape, s.get("ids"))
    return [Candidate(i, a, space.describe(a, in_shape)) for i, a in enumerate(archs)]


def set_up(plan: Plan, registry: Registry) -> RunSetup:
    """Load ``plan``'s dataset, build its space and its evaluator instances (not prepared).

    Writes nothing; a dataset that cannot load raises here (e.g. :class:`~rcx.api.dataset.DatasetError`).
    """
    data = load_data(plan, registry)
    space = registry.get("space", plan.space)(**plan.space_options)
    evaluators = {s.instance: registry.get("evaluator", s.plugin)(s.options) for s in plan.evaluators}
    return RunSetup(data, space, evaluators)


def prepare_evaluators(setup: RunSetup, device: torch.device, plan_seed: int) -> None:
    """Prepare every evaluator of ``setup`` once on ``device`` (:meth:`Evaluator.prepare` with
    the run's :class:`~rcx.api.evaluator.RunContext`)."""
    run_ctx = RunContext(data=setup.data, space=setup.space, device=device, plan_seed=plan_seed)
    for evaluator in setup.evaluators.values():
        evaluator.prepare(run_ctx)


def check_data(plan: Plan, setup: RunSetup) -> None:
    """The evaluators' plan checks against the dataset's real split sizes, before anything is
    written: :class:`DataMismatch` listing every problem."""
    n_train, n_test = int(setup.data.train_y.numel()), int(setup.data.test_y.numel())
    sizes = {**plan.dataset_options, "train_size": n_train, "test_size": n_test}
    problems = [f"evaluators.{inst}.{key}: {msg}" for inst, e in setup.evaluators.items()
                for key, msg in e.check_plan(sizes)]
    if problems:
        raise DataMismatch(f"dataset {plan.dataset!r} has {n_train} training and {n_test} test images "
                           f"(dataset.train_size/test_size count them): {'; '.join(problems)}")
