"""The choices of network-surgery options, without torch: evaluators declare their options
from these when they register, before any network is built."""

LC_OPS = ("none", "relu", "bn", "bn_relu")
"""Intermediate op of an LC-Block between its spatial and 1x1 convolutions (:mod:`rcx.nn.lc`)."""

PARTIAL_DIMS = ("out", "in")
"""What a partial-filter conv slices: output filters or input channels (:mod:`rcx.nn.partial`)."""

PARTIAL_RESTS = ("random", "zero")
"""The filters that do not learn: kept at their random init, or zeroed (:mod:`rcx.nn.partial`)."""
