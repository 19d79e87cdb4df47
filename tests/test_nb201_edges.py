"""``nb201`` with and without unreachable edges: the same output, and which cells differ in the
ReLUs they run (what NASWOT's ``edges`` option changes)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from rcx.nn.nb201_topology import EDGES, OPS, live_edges, unreachable_relu_edges
from rcx.spaces.nb201 import NB201Space

# 0 -> 1 is a conv whose node 1 reaches node 3 only through `none`; 2 -> 3 is a live conv.
DEAD_CONV = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
CELLS = [
    DEAD_CONV,
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|none~1|none~2|",  # two dead convs
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",  # dead conv 0 -> 2, dead pool
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",  # all live
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]


def relu_calls(net: nn.Module, x: torch.Tensor) -> int:
    """ReLU units (per image) that actually run in a forward pass of ``x``."""
    units = [0]
    handles = [m.register_forward_hook(lambda m, i, o: units.__setitem__(0, units[0] + o[0].numel()))
               for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return units[0]


def test_unreachable_relu_edges_by_hand():
    assert live_edges(("nor_conv_3x3", "none", "none", "skip_connect", "none", "nor_conv_1x1")) == \
        [False, False, False, True, False, True]
    assert unreachable_relu_edges(("nor_conv_3x3", "none", "none", "skip_connect", "none", "nor_conv_1x1")) == 1
    assert unreachable_relu_edges(("nor_conv_1x1", "nor_conv_3x3", "none", "avg_pool_3x3", "none", "none")) == 2
    assert unreachable_relu_edges(("avg_pool_3x3",) * 6) == 0  # dead-free, and pools hold no ReLU
    assert unreachable_relu_edges(("nor_conv_3x3",) * 6) == 0


def test_2290_of_15625_cells_lose_a_relu_when_unreachable_edges_are_skipped():
    """Issue 9: the cells whose NASWOT score depends on ``edges`` (pure Python, no forward)."""
    counts = [unreachable_relu_edges(ops) for ops in itertools.product(OPS, repeat=len(EDGES))]
    assert len(counts) == 15_625
    assert sum(c > 0 for c in counts) == 2_290


@pytest.mark.parametrize("arch_id", CELLS)
def test_full_and_pruned_builds_give_the_same_output(arch_id):
    space = NB201Space(channels=4, cells=2)
    arch = space.from_id(arch_id)
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    full = space.build(arch, (3, 16, 16), prune_unreachable=False)
    pruned = space.build(arch, (3, 16, 16))
    pruned.load_state_dict(full.state_dict())  # same modules, same parameters
    assert sum(p.numel() for p in pruned.parameters()) == sum(p.numel() for p in full.parameters())
    for mode in (True, False):  # BN on batch statistics and on (fresh) running statistics
        torch.testing.assert_close(pruned.train(mode)(x), full.train(mode)(x))
    # the full build runs exactly the ReLUs of the dead conv edges more: C*H*W per dead edge and cell
    dead = unreachable_relu_edges(space.ops(arch))
    per_cell_stage = 4 * 16 * 16 + 8 * 8 * 8 + 16 * 4 * 4
    assert relu_calls(full, x) - relu_calls(pruned, x) == dead * 2 * per_cell_stage


def test_the_space_builds_the_pruned_network_by_default():
    space = NB201Space(channels=4, cells=1)
    net = space.build(space.from_id(DEAD_CONV), (3, 16, 16))
    assert [cell.run for cell in net if hasattr(cell, "run")] == [live_edges(space.ops(space.from_id(DEAD_CONV)))] * 3
