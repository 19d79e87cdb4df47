"""NAS-Bench-Macro's codes without torch: the layers, their choices, and which codes build the
same network. Shared by the network (:mod:`rcx.nn.nb_macro`), the space
(:mod:`rcx.spaces.nb_macro`) and the truth table (:mod:`rcx.truth.nb_macro`)."""

from __future__ import annotations

import itertools

STAGES = (2, 3, 3)
"""Searchable layers per stage; the first layer of each stage halves the resolution and doubles
the width."""
LAYERS = sum(STAGES)
CHOICES = ("0", "1", "2")
"""Per layer: ``0`` identity, ``1`` MB3_K3 (expansion 3, 3x3), ``2`` MB6_K5 (expansion 6, 5x5)."""
BLOCKS = {"1": (3, 3), "2": (6, 5)}
"""Choice -> (expansion ratio, kernel size) of its inverted-residual block."""
INIT_CHANNELS = 32
HEAD_CHANNELS = 1280


def check_code(code: str) -> str:
    """``code`` if it is 8 digits in 0-2, else ``ValueError`` naming the problem."""
    text = str(code)
    if len(text) != LAYERS or any(ch not in CHOICES for ch in text):
        raise ValueError(f"malformed nb_macro id {code!r}: need {LAYERS} digits, each 0 (identity), "
                         "1 (MB3_K3) or 2 (MB6_K5), e.g. '21102210'")
    return text


def canonical_code(code: str) -> str:
    """The code the benchmark trained for ``code`` (its ``get_real_arch`` rule): within each stage
    the first layer stays (it changes resolution and width even as an identity: a strided 1x1
    conv), and the stage's other non-identity layers move to the front in their order, the
    identities to the end, since a stride-1 identity changes nothing. ``"01002000"`` ->
    ``"01020000"``."""
    text, out, at = check_code(code), [], 0
    for n in STAGES:
        stage = text[at:at + n]
        rest = [ch for ch in stage[1:] if ch != "0"]
        out.append(stage[0] + "".join(rest) + "0" * (n - 1 - len(rest)))
        at += n
    return "".join(out)


def canonical_codes() -> tuple[str, ...]:
    """The 3,969 distinct networks' canonical codes in ``itertools.product`` order (ascending)."""
    every = ("".join(c) for c in itertools.product(CHOICES, repeat=LAYERS))
    return tuple(c for c in every if canonical_code(c) == c)
