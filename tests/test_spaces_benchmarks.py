"""The ``nats_sss`` and ``nb_macro`` spaces: ids, order, canonical codes, costs against the
benchmarks' published figures for every architecture, and identical outputs to reference
networks in the official layouts (tests/bench_reference.py) on copied weights."""

from __future__ import annotations

import itertools

import pytest
import torch

from rcx.core.samplers import sample
from rcx.nn.nb_macro_codes import canonical_code
from rcx.spaces.nats_sss import NATSSizeSpace
from rcx.spaces.nb_macro import NBMacroSpace
from rcx.testing import check_space
from rcx.truth.nats_sss import published_params
from rcx.truth.nb_macro import published_costs
from tests.bench_reference import RefMacroNet, RefSizeNet, copy_in_order, randomise
from tests.test_spaces import check_module_matches_describe

WIDTHS = range(8, 65, 8)


# -- nats_sss -------------------------------------------------------------------------------------
def test_nats_sss_size_order_and_ids():
    space = NATSSizeSpace()
    assert len(space) == 32_768
    every = [":".join(map(str, p)) for p in itertools.product(WIDTHS, repeat=5)]
    assert [space.arch_at(i).id for i in range(0, len(space), 37)] == every[::37]
    assert space.arch_at(0).id == "8:8:8:8:8" and space.arch_at(32_767).id == "64:64:64:64:64"
    for i in (0, 1, 4_681, 32_767):
        arch = space.arch_at(i)
        assert space.index_of(arch) == i and space.from_id(arch.id) == arch
    assert space.from_id("64:64:56:64:24").params == {"c0": 64, "c1": 64, "c2": 56, "c3": 64, "c4": 24}


@pytest.mark.parametrize("bad, match", [
    ("8:8:8:8", "4 widths"), ("8:8:8:8:8:8", "6 widths"), ("8:8:x:8:8", "not all widths are integers"),
    ("8:8:12:8:8", "width 12 not in"), ("8:8:72:8:8", "width 72"), ("8:8:08:8:8", "not in 8, 16"),
])
def test_nats_sss_malformed_ids(bad, match):
    with pytest.raises(ValueError, match=match):
        NATSSizeSpace().from_id(bad)


def test_nats_sss_params_equal_the_benchmark_for_all_32768():
    """Every network's parameter count, described without building, plus the CIFAR-10
    classifier (c4 * 10 + 10), is the benchmark's ``params_cifar10``."""
    space, published = NATSSizeSpace(), published_params()
    assert len(published) == 32_768
    wrong = [a for a in space if space.describe(a, (3, 32, 32)).params + 10 * a.params["c4"] + 10 != published[a.id]]
    assert not wrong, f"{len(wrong)} differ, e.g. {wrong[0].id}"


@pytest.mark.parametrize("arch_id", ["8:8:8:8:8", "64:64:64:64:64", "64:8:40:16:32"])
def test_nats_sss_module_matches_describe(arch_id):
    space = NATSSizeSpace()
    arch = space.from_id(arch_id)
    check_module_matches_describe(space, arch, (3, 32, 32))
    net = space.build_classifier(arch, (3, 32, 32), 10)
    assert sum(p.numel() for p in net.parameters()) == published_params()[arch_id]


@pytest.mark.parametrize("arch_id", ["8:8:8:8:8", "24:16:40:64:8", "40:56:16:24:48"])
def test_nats_sss_is_the_official_network_on_copied_weights(arch_id):
    space = NATSSizeSpace()
    ref = RefSizeNet(arch_id, 10)
    randomise(ref, 1)
    net = space.build_classifier(space.from_id(arch_id), (3, 16, 16), 10)
    copy_in_order(ref, net)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    for mode in (True, False):  # batch statistics (what the proxies see), then running statistics
        torch.testing.assert_close(net.train(mode)(x), ref.train(mode)(x))


def test_nats_sss_checks_and_search():
    space = NATSSizeSpace()
    check_space(space, in_shape=(3, 16, 16), samples=3)
    assert not space.describe(space.arch_at(0), (3, 30, 32)).valid and not space.is_valid(space.arch_at(0), (3, 30, 32))
    grid = space.grid()
    assert list(grid) == ["c0", "c1", "c2", "c3", "c4"] and all(list(v) == list(WIDTHS) for v in grid.values())
    assert space.from_grid({"c0": 64, "c1": 64, "c2": 56, "c3": 64, "c4": 24}).id == "64:64:56:64:24"
    drawn = sample(space, "random", 50, seed=0)
    assert len({a.id for a in drawn}) == 50 and drawn == sample(space, "random", 50, seed=0)
    assert [a.id for a in sample(space, "ids", ids=["8:8:8:8:8", "64:64:56:64:24"])] == ["8:8:8:8:8", "64:64:56:64:24"]


# -- nb_macro -------------------------------------------------------------------------------------
def test_nb_macro_canonical_codes():
    space = NBMacroSpace()
    assert len(space) == 3_969
    assert space.arch_at(0).id == "00000000" and space.arch_at(3_968).id == "22222222"
    ids = [space.arch_at(i).id for i in range(len(space))]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    every = ["".join(c) for c in itertools.product("012", repeat=8)]
    assert {space.from_id(c).id for c in every} == set(ids)
    # a stage keeps its first layer, moves its other non-identities forward, identities to the end
    assert space.from_id("01002000").id == "01020000" and space.from_id("20001201").id == "20010210"
    assert space.from_id("00000000").id == "00000000" and canonical_code("10100001") == "10100010"
    for code in ("01002000", "22021021", "00000000"):
        arch = space.from_id(code)
        assert space.arch_at(space.index_of(code)) == arch and space.index_of(arch) == space.index_of(code)
    assert space.from_id("21002210").params == {**{f"layer{i}": int(d) for i, d in enumerate("21020210", 1)},
                                                "depth": 5}


@pytest.mark.parametrize("bad", ["0000000", "000000000", "00000003", "0000000a", ""])
def test_nb_macro_malformed_ids(bad):
    with pytest.raises(ValueError, match="malformed nb_macro id"):
        NBMacroSpace().from_id(bad)


def test_nb_macro_costs_equal_the_benchmark_for_all_6561_codes():
    """Params and FLOPs, described without building, plus the CIFAR-10 classifier (1280 * 10
    weights + 10 biases; 1280 * 10 FLOPs), are the benchmark's for every code."""
    space, published = NBMacroSpace(), published_costs()
    assert len(published) == 6_561
    wrong = []
    for code, (params, flops) in published.items():
        info = space.describe(space.from_id(code), (3, 32, 32))
        if (info.params + 12_810, info.flops + 12_800) != (params, flops):
            wrong.append(code)
    assert not wrong, f"{len(wrong)} differ, e.g. {wrong[0]}"


@pytest.mark.parametrize("code", ["00000000", "22222222", "12012201"])
def test_nb_macro_module_matches_describe(code):
    space = NBMacroSpace()
    check_module_matches_describe(space, space.from_id(code), (3, 32, 32))
    net = space.build_classifier(space.from_id(code), (3, 32, 32), 10)
    assert sum(p.numel() for p in net.parameters()) == published_costs()[code][0]


@pytest.mark.parametrize("code", ["21102210", "01002000", "10201002", "22021021"])
def test_nb_macro_is_the_official_network_on_copied_weights(code):
    """The reference builds ``code`` with every layer in place; rcx builds its canonical code
    (for ``01002000``, ``10201002``, ``22021021`` another code): the same network."""
    space = NBMacroSpace()
    ref = RefMacroNet(code, 10)
    randomise(ref, 3)
    net = space.build_classifier(space.from_id(code), (3, 16, 16), 10)
    copy_in_order(ref, net)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    for mode in (True, False):
        torch.testing.assert_close(net.train(mode)(x), ref.train(mode)(x))


def test_nb_macro_checks_and_search():
    space = NBMacroSpace()
    check_space(space, in_shape=(3, 16, 16), samples=3)
    info = space.describe(space.from_id("21102210"), (3, 30, 30))  # stride-2 layers round up: 15, 8, 4
    assert info.valid and info.out_shape == (1280, 4, 4)
    grid = space.grid()
    assert list(grid) == [f"layer{i}" for i in range(1, 9)] and all(tuple(v) == (0, 1, 2) for v in grid.values())
    assert space.from_grid({f"layer{i}": int(d) for i, d in enumerate("01002000", 1)}).id == "01020000"
    drawn = sample(space, "random", 40, seed=0)
    assert len({a.id for a in drawn}) == 40 and all(space.from_id(a.id) == a for a in drawn)
    assert [a.id for a in sample(space, "ids", ids=["01020000"])] == ["01020000"]
