"""rcx's public plugin API: everything a plugin needs, in one flat namespace.

The names in ``__all__`` are the public, stable interface for plugin authors, versioned with
rcx: a plugin that imports only ``rcx.api`` keeps working across rcx releases that keep this
module's names and signatures. Everything else under ``rcx`` is internal and may change.
(A later step makes this module the bottom layer of the package, importing nothing else of
rcx; today it re-exports the objects from where they live.)

- Hooks: :data:`hookimpl` marks a plugin's ``rcx_register_evaluators`` /
  ``rcx_register_spaces`` / ``rcx_register_datasets`` functions.
- Evaluators: :class:`Evaluator` (declares :class:`Option` and :class:`Metric` lists),
  :class:`RunContext` (once per run), :class:`EvalContext` (once per candidate),
  :class:`EvalResult`; raise :class:`InvalidArchitecture` for a candidate that cannot run on
  the input (:class:`Cancelled` is what ``EvalContext.check_cancel`` raises).
- :func:`build_every_edge`: a space's network with every operation computed (nb201's
  unreachable edges too), for proxies that hook activations.
- :class:`FixedBatch`: one seeded batch of training images per run (the same for every
  candidate) and the candidate's network, with or without its classifier head.
- Seeding: :func:`generator` / :func:`derive_seed` (seeds from identities, never from order);
  weights: :func:`init_weights` with a scheme from :data:`INIT_SCHEMES`.
- Spaces and datasets: :class:`SearchSpace`, :class:`Arch`, :class:`ArchInfo`,
  :class:`LayerInfo`; :class:`DatasetProvider`, :class:`ImageDataset`, :class:`DatasetError`.
"""

from rcx.core.options import Metric, Option
from rcx.core.seeding import derive_seed, generator
from rcx.data.base import DatasetError, DatasetProvider, ImageDataset
from rcx.evaluators.base import (
    Cancelled,
    EvalContext,
    EvalResult,
    Evaluator,
    FixedBatch,
    InvalidArchitecture,
    RunContext,
    build_every_edge,
)
from rcx.hookspecs import hookimpl
from rcx.nn.init import INIT_SCHEMES, init_weights
from rcx.spaces.base import Arch, ArchInfo, LayerInfo, SearchSpace

__all__ = [
    "Arch",
    "ArchInfo",
    "Cancelled",
    "DatasetError",
    "DatasetProvider",
    "EvalContext",
    "EvalResult",
    "Evaluator",
    "FixedBatch",
    "INIT_SCHEMES",
    "ImageDataset",
    "InvalidArchitecture",
    "LayerInfo",
    "Metric",
    "Option",
    "RunContext",
    "SearchSpace",
    "build_every_edge",
    "derive_seed",
    "generator",
    "hookimpl",
    "init_weights",
]
