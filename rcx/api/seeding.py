"""Seeds derived from identities, never from evaluation order.

Every random draw in rcx takes its seed from ``derive_seed(plan_seed, *parts)`` where the
parts name what is being drawn (evaluator, architecture id, trial index...). Running one
architecture alone, in another order, or on resume gives the same numbers.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any sequence of str/int parts (stable across runs and machines)."""
    text = "\x1f".join(str(p) for p in parts)
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generator(*parts: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(*parts)``."""
    import torch

    g = torch.Generator(device="cpu")
    g.manual_seed(derive_seed(*parts))
    return g
