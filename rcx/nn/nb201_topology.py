"""NAS-Bench-201's cell topology without torch: its operations, its edges, and which edges
reach the cell output. Shared by the network (:mod:`rcx.nn.nb201`) and the space
(:mod:`rcx.spaces.nb201`), which lists and describes cells without building them."""

from __future__ import annotations

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""NAS-Bench-201's operations, in the benchmark's order."""

EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The cell's edges ``(from, to)`` in the order of the official architecture string."""


def live_edges(ops: tuple[str, ...]) -> list[bool]:
    """Per edge (in :data:`EDGES` order): does it contribute to the cell output (node 3)?"""
    live_nodes = {3}
    live = [False] * len(EDGES)
    for k in sorted(range(len(EDGES)), key=lambda k: -EDGES[k][1]):  # targets from node 3 down
        src, dst = EDGES[k]
        if ops[k] != "none" and dst in live_nodes:
            live[k] = True
            live_nodes.add(src)
    return live


def unreachable_relu_edges(ops: tuple[str, ...]) -> int:
    """Edges of the cell that hold a ReLU (``nor_conv_*``) but cannot reach its output: the
    ReLUs a build with ``prune_unreachable=True`` leaves out, per cell."""
    return sum(op.startswith("nor_conv") and not live for op, live in zip(ops, live_edges(ops)))
