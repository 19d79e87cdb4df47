"""The ``nb201`` and ``mlp2`` spaces and the untrained-accuracy head of every space."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rcx.core.samplers import sample
from rcx.nn.nb201_topology import live_edges
from rcx.spaces.depthmult import DepthMultSpace
from rcx.spaces.ksd import KsdSpace
from rcx.spaces.mlp2 import MLP2Space
from rcx.spaces.nb201 import NB201Space, arch_string, parse_arch_string
from tests.test_spaces import conv_macs

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def test_nb201_size_order_and_ids():
    space = NB201Space()
    assert len(space) == 15_625
    assert space.arch_at(0).id == ALL_NONE
    assert space.arch_at(1).id == "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert space.arch_at(len(space) - 1).id.count("avg_pool_3x3") == 6
    ids = {space.arch_at(i).id for i in range(0, len(space), 7)}
    assert len(ids) == len(range(0, len(space), 7))
    for i in (0, 1, 977, 15_624):
        arch = space.arch_at(i)
        assert space.index_of(arch) == i and space.from_id(arch.id) == arch
        assert arch_string(parse_arch_string(arch.id)) == arch.id
    assert space.from_id(MIXED).params["edge03"] == "skip_connect" and space.from_id(MIXED).params["edge13"] == "none"
    assert space.from_id(MIXED).params["convs"] == 3


@pytest.mark.parametrize("bad, match", [
    ("|none~0|+|none~0|none~1|", "2 node groups.*need 3"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 inputs"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 'OP~0'"),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end"),
])
def test_nb201_malformed_ids(bad, match):
    with pytest.raises(ValueError, match=match):
        NB201Space().from_id(bad)


@pytest.mark.parametrize("in_shape, classes, params, mflops", [
    # NAS-Bench-201's published extremes (all-none / all-3x3 cells), classifier included.
    ((3, 32, 32), 10, (73_306, 1_531_546), (7.78305, 220.11969)),       # CIFAR-10
    ((3, 32, 32), 100, (79_156, 1_537_396), (7.7889, 220.12554)),       # CIFAR-100
    ((3, 16, 16), 120, (80_456, 1_538_696), (1.9534, 55.03756)),        # ImageNet16-120
])
def test_nb201_matches_the_benchmark_costs(in_shape, classes, params, mflops):
    space = NB201Space()
    head = 64 * classes + classes  # Linear(64, classes): weights + biases (and as many FLOPs)
    for arch_id, p, f in zip((ALL_NONE, ALL_CONV3), params, mflops):
        info = space.describe(space.from_id(arch_id), in_shape)
        assert info.params + head == p
        assert (info.flops + head) / 1e6 == pytest.approx(f, abs=1e-9)
        net = space.build_classifier(space.from_id(arch_id), in_shape, classes)
        assert sum(q.numel() for q in net.parameters()) == p


@pytest.mark.parametrize("arch_id", [ALL_NONE, ALL_CONV3, MIXED,
                                     "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|none~2|"])
def test_nb201_module_matches_describe(arch_id):
    space = NB201Space(channels=8, cells=2)
    arch = space.from_id(arch_id)
    info = space.describe(arch, (3, 32, 32))
    shape, macs = conv_macs(space.build(arch, (3, 32, 32), prune_unreachable=False), (3, 32, 32))
    assert shape == info.out_shape == (32, 8, 8)
    assert macs == info.flops  # every edge counted, as the benchmark's counter does
    assert sum(p.numel() for p in space.build(arch, (3, 32, 32)).parameters()) == info.params
    assert info.features == 32 * 8 * 8 and info.layers[-1].out_shape == info.out_shape


def test_nb201_pruning_skips_dead_edges_without_changing_the_output():
    assert live_edges(("nor_conv_3x3", "none", "none", "skip_connect", "none", "nor_conv_1x1")) == \
        [False, False, False, True, False, True]  # node 1 reaches node 3 only through none: 0 -> 1 is dead
    space = NB201Space(channels=4, cells=1)
    x = torch.randn(6, 3, 16, 16)
    for arch_id in (MIXED, ALL_NONE, "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"):
        arch = space.from_id(arch_id)
        torch.manual_seed(0)
        full = space.build(arch, (3, 16, 16), prune_unreachable=False)
        pruned = space.build(arch, (3, 16, 16))
        pruned.load_state_dict(full.state_dict())
        torch.testing.assert_close(pruned.train()(x), full.train()(x))


def test_nb201_all_none_cells_give_a_constant_output():
    space = NB201Space(channels=4, cells=1)
    out = space.build(space.from_id(ALL_NONE), (3, 16, 16)).train()(torch.randn(5, 3, 16, 16))
    assert torch.count_nonzero(out) == 0


def test_nb201_input_must_be_a_multiple_of_4():
    space = NB201Space()
    info = space.describe(space.arch_at(5), (1, 28, 30))
    assert not info.valid and "multiples of 4" in info.reason
    assert not space.is_valid(space.arch_at(5), (1, 28, 30)) and space.is_valid(space.arch_at(5), (1, 28, 28))
    assert len(sample(space, "random", 20, seed=0, valid_only=True, in_shape=(3, 32, 32))) == 20


def test_mlp2_space():
    space = MLP2Space()
    assert len(space) == 144
    assert space.arch_at(0).id == "u8-8" and space.arch_at(143).id == "u2048-2048"
    assert space.arch_at(13).id == "u16-16" and space.index_of("u16-16") == 13
    arch = space.from_id("u64-2048")
    info = space.describe(arch, (1, 28, 28))
    assert info.params == 784 * 64 + 64 + 64 * 2048 + 2048 and info.flops == 784 * 64 + 64 * 2048
    assert info.out_shape == (2048, 1, 1) and info.features == 2048
    net = space.build(arch, (1, 28, 28))
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 2048, 1, 1)
    assert sum(p.numel() for p in net.parameters()) == info.params
    with pytest.raises(ValueError, match="12 units is not in this space"):
        space.from_id("u12-8")
    with pytest.raises(ValueError, match="expected e.g. 'u64-2048'"):
        space.from_id("64-2048")
    with pytest.raises(ValueError, match="distinct"):
        MLP2Space(units=[8, 8])


@pytest.mark.parametrize("space, arch_id, in_shape", [
    (KsdSpace(channels=8), "k3-3-3_s1-2-1_d1-1-1", (3, 32, 32)),
    (DepthMultSpace(), "k3-5-3_m1-1.25-1.5", (3, 32, 32)),
    (MLP2Space(), "u64-32", (1, 28, 28)),
    (NB201Space(channels=4, cells=1), MIXED, (3, 16, 16)),
])
def test_default_head_is_gap_plus_linear(space, arch_id, in_shape):
    arch = space.from_id(arch_id)
    info = space.describe(arch, in_shape)
    net = space.build_classifier(arch, in_shape, 7)
    assert isinstance(net[-1], nn.Linear) and net[-1].in_features == info.out_shape[0]
    assert sum(p.numel() for p in net.parameters()) == info.params + info.out_shape[0] * 7 + 7
    x = torch.randn(4, *in_shape)
    logits = net.train()(x)
    assert logits.shape == (4, 7)
    feats = net[0](x).mean((2, 3))  # global average pooling of the feature extractor's output
    torch.testing.assert_close(logits, net[-1](feats))


def test_head_refuses_an_architecture_that_does_not_fit():
    space = KsdSpace()
    with pytest.raises(ValueError, match="does not fit"):
        space.build_classifier(space.from_id("k9-9-9_s3-3-3_d3-3-3"), (3, 32, 32), 10)
