"""rcx's code paths at the start of issue 21's second pass (commit d2bb2df) that options cannot
select, for benchmarks that measure this pass's gains in one process against them.

- ``ridge_start``: ``ridge_rfm`` without the staged input (every batch normalised and copied to
  channels-last per candidate; set while evaluators are *prepared*), with its extra untimed
  warm-up batch before the first initialisation of an evaluation that computes features, and
  computing every convolution output, also those never read (set while they *evaluate*).
- ``naswot_start``: NASWOT's bool codes and their row sums (``layer_kernel`` replaceable: the
  pre-issue-21 two-product kernel reuses it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

import rcx.evaluators.ridge_rfm as ridge
from rcx.nn import unread
from rcx.nn.features import batched_features


@contextlib.contextmanager
def ridge_start() -> Iterator[None]:
    """ridge_rfm as at the start of the pass (see the module docstring)."""
    pending: dict[str, Any] = {}
    real_evaluate, real_init, real_stage = ridge.RidgeRFM.evaluate, ridge.init_weights, ridge.STAGE_BYTES
    real_skip = unread.skip_unread_outputs

    def evaluate(self: Any, ctx: Any) -> Any:
        pending["ev"] = self
        try:
            return real_evaluate(self, ctx)
        finally:
            pending.clear()

    def init_weights(model: nn.Module, scheme: str, g: torch.Generator) -> nn.Module:
        ev = pending.pop("ev", None)
        if ev is not None:  # the old warm-up: one more forward batch
            next(batched_features(model, ev.train_x[:ev.batch_size], ev.normalize, ev.batch_size, ev.dtype,
                                  channels_last=ev.channels_last))
        return real_init(model, scheme, g)

    ridge.RidgeRFM.evaluate, ridge.init_weights, ridge.STAGE_BYTES = evaluate, init_weights, 0
    unread.skip_unread_outputs = lambda model: 0
    try:
        yield
    finally:
        ridge.RidgeRFM.evaluate, ridge.init_weights, ridge.STAGE_BYTES = real_evaluate, real_init, real_stage
        unread.skip_unread_outputs = real_skip


def start_layer_kernel(codes: torch.Tensor) -> torch.Tensor:
    """NASWOT's layer kernel at the start of the pass: ``r`` summed from the bool codes."""
    import rcx_naswot.evaluator as naswot

    both, r = naswot.agreements(codes), codes.sum(1)
    return (2 * both - r[:, None] - r[None, :] + codes.shape[1]).double()


@contextlib.contextmanager
def naswot_start(layer_kernel: Callable[[torch.Tensor], torch.Tensor] = start_layer_kernel) -> Iterator[None]:
    """NASWOT as at the start of the pass, or with another ``layer_kernel`` of bool codes."""
    import rcx_naswot.evaluator as naswot

    saved = naswot.layer_kernel, naswot.binary_codes
    naswot.layer_kernel, naswot.binary_codes = layer_kernel, lambda x: (x > 0).flatten(1)
    try:
        yield
    finally:
        naswot.layer_kernel, naswot.binary_codes = saved
