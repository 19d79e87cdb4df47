"""rcx's public plugin API: everything a plugin needs, in one flat namespace.

The names in ``__all__`` are the public, stable interface for plugin authors, versioned with
rcx: a plugin that imports only ``rcx.api`` keeps working across rcx releases that keep this
module's names and signatures. Everything else under ``rcx`` is internal and may change.
This package is the bottom layer of rcx: it imports nothing else of rcx, and importing it does
not import torch (torch is imported where a function needs it), so a plugin's declarations load
without torch.

- Hooks: :data:`hookimpl` marks a plugin's ``rcx_register_evaluators`` /
  ``rcx_register_spaces`` / ``rcx_register_datasets`` / ``rcx_register_truths`` functions.
- Evaluators: :class:`Evaluator` (declares :class:`Option` and :class:`Metric` lists; a
  metric's ``role`` is :data:`SCORE`, a proxy to rank by, or :data:`DESCRIPTION`, a time,
  size or count),
  :class:`RunContext` (once per run), :class:`EvalContext` (once per candidate),
  :class:`EvalResult`; raise :class:`InvalidArchitecture` for a candidate that cannot run on
  the input (:class:`Cancelled` is what ``EvalContext.check_cancel`` raises).
- :func:`build_every_edge`: a space's network with every operation computed (nb201's
  unreachable edges too), for proxies that hook activations.
- :class:`FixedBatch`: one seeded batch of training images per run (the same for every
  candidate) and the candidate's network, with or without its classifier head.
- Seeding: :func:`generator` / :func:`derive_seed` (seeds from identities, never from order);
  weights: :func:`init_weights` with a scheme from :data:`INIT_SCHEMES`.
- Devices: :class:`Normalizer` (uint8 images -> normalised float32 on the device),
  :func:`synchronize` (before reading a clock), :func:`cpu_has_fast_bf16`.
- Spaces and datasets: :class:`SearchSpace` (its ``canonical(id)`` gives the one spelling of
  an id that rcx keys results by), :class:`Arch`, :class:`ArchInfo`,
  :class:`LayerInfo`; :class:`DatasetProvider`, :class:`ImageDataset`, :class:`DatasetError`.
- Dataset helpers: :func:`channel_stats` (an ImageDataset's mean/std), :func:`resize_uint8`,
  :data:`MAX_IMAGE_SIDE`; :func:`save_tensors` / :func:`load_tensors` (atomic tensor files, e.g.
  decoded images kept in the ``cache_dir`` that ``load`` receives) and :func:`cache_dir`
  (rcx's cache directory).
- Truth tables: :class:`TruthTable` (a benchmark's value per architecture id and subset, the
  subsets declared as :class:`Metric` s) and :data:`TruthValues`, what its ``load`` returns.

Stability and versioning: the names in ``__all__`` follow rcx's version (``rcx.__version__``,
semantic versioning from 1.0; until then a minor release may change them, and says so in its
notes). Within a major version a name is not removed and a signature changes only by new
keyword arguments with defaults; a class gains attributes and methods only with defaults. The
submodules (``rcx.api.options``, ``rcx.api.evaluator``...) are where the names live, not part
of the interface: import from ``rcx.api`` itself.
"""

from rcx.api.arch import Arch, ArchInfo, LayerInfo, SearchSpace
from rcx.api.cache import CandidateCache
from rcx.api.dataset import DatasetError, DatasetProvider, ImageDataset
from rcx.api.dataset_cache import cache_dir, load_tensors, save_tensors
from rcx.api.device import Normalizer, cpu_has_fast_bf16, synchronize
from rcx.api.evaluator import (
    Cancelled,
    EvalContext,
    EvalResult,
    Evaluator,
    FixedBatch,
    InvalidArchitecture,
    RunContext,
    build_every_edge,
)
from rcx.api.hooks import hookimpl
from rcx.api.images import MAX_IMAGE_SIDE, channel_stats, resize_uint8
from rcx.api.init import INIT_SCHEMES, init_weights
from rcx.api.options import DESCRIPTION, SCORE, Metric, Option
from rcx.api.seeding import derive_seed, generator
from rcx.api.truth import TruthTable
from rcx.api.truth import Values as TruthValues

__all__ = [
    "Arch",
    "ArchInfo",
    "CandidateCache",
    "Cancelled",
    "DESCRIPTION",
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
    "MAX_IMAGE_SIDE",
    "Metric",
    "Normalizer",
    "Option",
    "RunContext",
    "SCORE",
    "SearchSpace",
    "TruthTable",
    "TruthValues",
    "build_every_edge",
    "cache_dir",
    "channel_stats",
    "cpu_has_fast_bf16",
    "derive_seed",
    "generator",
    "hookimpl",
    "init_weights",
    "load_tensors",
    "resize_uint8",
    "save_tensors",
    "synchronize",
]
