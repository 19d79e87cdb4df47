"""NAS-Bench-201's cell topology without torch: its operations, its edges, and which edges
reach the cell output. Shared by the network (:mod:`rcx.nn.nb201`) and the space
(:mod:`rcx.spaces.nb201`), which lists and describes cells without building them."""

from __future__ import annotations

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""NAS-Bench-201's operations, in the benchmark's order."""

EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The cell's edges ``(from, to)`` in the order of the official architecture string."""

BEST_CELL = ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3")
"""``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``
(NAS-Bench-201 index 9930, the best on CIFAR-100 validation): the cell NATS-Bench's size space
fixes, as its six edge operations in :data:`EDGES` order."""

_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}


def cell_cost(ops: tuple[str, ...], c: int, c_in: int | None = None) -> tuple[int, int]:
    """(parameters, MACs per output pixel) of one cell at ``c`` channels whose input has ``c_in``
    (default ``c``), every edge counted: a convolution from node 0 reads ``c_in`` channels, and
    ``skip_connect`` from node 0 is a Conv1x1 -> BN when ``c_in != c`` (:func:`rcx.nn.nb201.make_op`)."""
    c_in = c if c_in is None else c_in
    params = macs = 0
    for op, (src, _) in zip(ops, EDGES):
        width = c_in if src == 0 else c
        kernel = _KERNEL.get(op, 1 if op == "skip_connect" and width != c else 0)
        if kernel:
            params += kernel * width * c + 2 * c
            macs += kernel * width * c
    return params, macs


def res_cost(c_in: int, c_out: int) -> tuple[int, int]:
    """(parameters, MACs per output pixel) of the residual reduction block ``c_in -> c_out``: two
    3x3 convs with BN and the 1x1 shortcut conv."""
    macs = 9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out
    return macs + 4 * c_out, macs


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
