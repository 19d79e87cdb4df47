"""Search spaces (ksd, depthmult), layer specs and samplers: sizes, ids, shapes, costs, validity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rcx.api.options import validate_options
from rcx.core.samplers import EXHAUSTIVE_LIMIT, SAMPLER_OPTIONS, random_order, sample
from rcx.nn.layers import BNSpec, ConvSpec, MaxPoolSpec, ReLUSpec, build_stack, describe_stack
from rcx.spaces import rcx_register_spaces
from rcx.spaces.depthmult import DepthMultSpace, pool_positions, scaled_width
from rcx.spaces.ksd import KsdSpace

STL = (3, 96, 96)
CIFAR = (3, 32, 32)


def conv_macs(module: nn.Module, in_shape: tuple[int, int, int]) -> tuple[tuple[int, ...], int]:
    """Output shape (C, H, W) and conv multiply-accumulates per image, counted with forward hooks."""
    total = [0]

    def hook(m: nn.Conv2d, inputs, out: torch.Tensor) -> None:
        kh, kw = m.kernel_size
        total[0] += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        out = module.eval()(torch.zeros(1, *in_shape))
    for h in handles:
        h.remove()
    return tuple(out.shape[1:]), total[0]


def check_module_matches_describe(space, arch, in_shape):
    info = space.describe(arch, in_shape)
    assert info.valid, info.reason
    module = space.build(arch, in_shape)
    shape, macs = conv_macs(module, in_shape)
    assert shape == info.out_shape
    assert sum(p.numel() for p in module.parameters()) == info.params
    assert macs == info.flops
    assert info.features == int(np.prod(info.out_shape))
    assert info.layers[-1].out_shape == info.out_shape


# -- layer specs ----------------------------------------------------------------------------


def test_layer_specs_shapes_params_flops():
    conv = ConvSpec(3, 8, 5, stride=2, dilation=2, padding=1)
    assert conv.out_shape((3, 20, 20)) == (8, 7, 7)  # floor((20 + 2 - 8 - 1) / 2) + 1
    assert conv.params() == 8 * 3 * 25 + 8 and ConvSpec(3, 8, 5, bias=False).params() == 8 * 3 * 25
    assert conv.flops((3, 20, 20)) == 8 * 7 * 7 * 3 * 25
    assert BNSpec(8).params() == 16 and MaxPoolSpec().out_shape((8, 7, 7)) == (8, 3, 3)
    specs = [conv, ReLUSpec(), BNSpec(8), MaxPoolSpec()]
    info = describe_stack(specs, (3, 20, 20))
    assert info.valid and info.out_shape == (8, 3, 3) and info.ratio == 72 / 1200
    assert [layer.kind for layer in info.layers] == ["conv", "relu", "bn", "maxpool"]
    module = build_stack(specs)
    assert sum(p.numel() for p in module.parameters()) == info.params
    assert conv_macs(module, (3, 20, 20)) == (info.out_shape, info.flops)


def test_describe_stack_reports_the_failing_layer():
    specs = [ConvSpec(3, 4, 3), ReLUSpec(), ConvSpec(4, 4, 9, dilation=3)]
    info = describe_stack(specs, (3, 7, 7))
    assert not info.valid and info.out_shape is None and len(info.layers) == 2
    assert info.reason == "layer 3 (conv k9 s1 d3): input 5x5 is smaller than the dilated kernel 25"
    assert "kernel 2" in describe_stack([MaxPoolSpec()], (3, 1, 5)).reason
    with pytest.raises(ValueError, match="expects 4 input channels"):
        describe_stack([ConvSpec(4, 4, 3)], (3, 8, 8))


# -- ksd ------------------------------------------------------------------------------------


def test_ksd_size_order_and_valid_count():
    space = KsdSpace()
    assert len(space) == 46_656
    assert space.arch_at(0).id == "k3-3-3_s1-1-1_d1-1-1" and space.arch_at(1).id == "k3-3-3_s1-1-1_d1-1-2"
    assert space.arch_at(3).id == "k3-3-3_s1-1-2_d1-1-1" and space.arch_at(9).id == "k3-3-5_s1-1-1_d1-1-1"
    assert space.arch_at(36).id == "k3-3-3_s1-1-1_d1-2-1" and space.arch_at(46_655).id == "k9-9-9_s3-3-3_d3-3-3"
    archs = list(space)
    infos = [space.describe(a, STL) for a in archs]
    assert sum(i.valid for i in infos) == 32_021  # GUIDE.md: the blog's stated rule gives 32,021
    assert [space.is_valid(a, STL) for a in archs] == [i.valid for i in infos]
    assert all(i.reason for i in infos if not i.valid) and not any(i.reason for i in infos if i.valid)
    assert all(i.features <= 3 * 96 * 96 and i.out_shape[1] >= 1 for i in infos if i.valid)


def test_ksd_id_round_trip_and_index():
    space = KsdSpace()
    for i in np.random.default_rng(0).integers(0, len(space), 300).tolist():
        arch = space.arch_at(i)
        back = space.from_id(arch.id)
        assert back == arch and back.params == arch.params and space.index_of(arch) == i
    arch = space.from_id("k7-3-5_s2-1-2_d1-3-1")
    assert arch.params == {"kernel": "7,3,5", "stride": "2,1,2", "dilation": "1,3,1", "depth": 3}
    small = KsdSpace(layers=2, kernels=[5, 3], strides=[2], dilations=[1])
    assert len(small) == 4 and [a.id for a in small] == ["k5-5_s2-2_d1-1", "k5-3_s2-2_d1-1", "k3-5_s2-2_d1-1",
                                                         "k3-3_s2-2_d1-1"]


@pytest.mark.parametrize("bad, match", [
    ("k7-3_s2-1_d1-3", "has 2 kernels; this space has 3 layers"),
    ("k7-3-4_s2-1-2_d1-3-1", "kernel 4 is not in this space"),
    ("k7-3-5_s2-1-2_d1-3-4", "dilation 4 is not in this space"),
    ("k7-3-5_s2-1-2", "malformed"),
    ("k7--5_s2-1-2_d1-3-1", "not integers"),
])
def test_ksd_from_id_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        KsdSpace().from_id(bad)


def test_ksd_options_are_checked():
    with pytest.raises(ValueError, match="distinct"):
        KsdSpace(kernels=[3, 3])
    with pytest.raises(ValueError, match="ksd.layers"):
        KsdSpace(layers=9)


@pytest.mark.parametrize("arch_id, ratio, trained_params", [
    ("k7-3-5_s2-1-2_d1-3-1", 0.3750000, 143_306),
    ("k9-3-7_s3-1-1_d1-1-1", 0.5601852, 222_154),
    ("k5-3-5_s3-2-1_d2-1-1", 0.1157407, 69_322),
    ("k7-3-3_s3-1-2_d3-1-1", 0.1400463, 61_962),
    ("k9-9-7_s2-2-1_d2-1-1", None, 173_002),
])
def test_ksd_matches_the_blog_tables(arch_id, ratio, trained_params):
    """Seed 001's ratio column, and its trained-model params = conv stack + a 10-class linear head."""
    space = KsdSpace()
    info = space.describe(space.from_id(arch_id), STL)
    assert info.valid
    if ratio is not None:
        assert info.ratio == pytest.approx(ratio, abs=1e-7)
    assert info.params + info.features * 10 + 10 == trained_params


def test_ksd_invalid_reasons():
    space = KsdSpace()
    too_small = space.describe(space.from_id("k9-9-9_s3-3-3_d3-3-3"), STL)
    assert not too_small.valid and too_small.reason == (
        "layer 2 (conv k9 s3 d3): input 24x24 is smaller than the dilated kernel 25")
    too_big = space.describe(space.from_id("k3-3-3_s1-1-1_d1-1-1"), STL)
    assert not too_big.valid and too_big.reason == "output 32x90x90 = 259200 elements exceeds the input's 27648"
    assert too_big.out_shape == (32, 90, 90)  # shapes and costs are kept for display


def test_ksd_module_matches_describe():
    space = KsdSpace(channels=8)
    rng = np.random.default_rng(1)
    checked = 0
    for i in rng.integers(0, len(space), 60).tolist():
        arch = space.arch_at(i)
        if space.describe(arch, CIFAR).valid:
            check_module_matches_describe(space, arch, CIFAR)
            checked += 1
    assert checked >= 5
    check_module_matches_describe(KsdSpace(), KsdSpace().from_id("k7-3-5_s2-1-2_d1-3-1"), STL)


# -- depthmult ------------------------------------------------------------------------------


def test_depthmult_sizes_and_options():
    assert [len(DepthMultSpace(depth=[n])) for n in (1, 3, 5)] == [6, 216, 7776]
    assert len(DepthMultSpace(depth=[3, 5, 7, 9, 11])) == sum(6**n for n in (3, 5, 7, 9, 11))
    assert len(DepthMultSpace(depth=4)) == 6**4  # a bare integer is accepted, in plans too
    values, problems = validate_options(DepthMultSpace.options, {"depth": 3}, "space")
    assert values["depth"] == [3] and not problems
    _, problems = validate_options(DepthMultSpace.options, {"depth": [3, 0]}, "space")
    assert problems and problems[0][0] == "space.depth"
    assert len(DepthMultSpace(depth=[2], kernels=[3], mults=[1.0, 2.0])) == 4
    with pytest.raises(ValueError, match="odd"):
        DepthMultSpace(kernels=[3, 4])
    with pytest.raises(ValueError, match="depthmult.depth"):
        DepthMultSpace(depth=[17])


def test_depthmult_widths_rule():
    space = DepthMultSpace()
    assert space.from_id("k3-5-3_m1-1.25-1.5").params["widths"] == "24,30,45"
    assert space.from_id("k3-3-3_m1.5-1.25-1.5").params["widths"] == "36,45,68"  # 67.5 rounds half up
    assert space.from_id("k3-3-3_m1.25-1.25-1.25").params["widths"] == "30,38,48"  # 37.5 -> 38, 47.5 -> 48
    assert {space.arch_at(i).params["widths"].split(",")[0] for i in range(len(space))} == {"24", "30", "36"}
    assert scaled_width(24, 1.25) == 30 and scaled_width(2, 0.1) == 1
    assert len({a.id for a in space}) == len(space) == 216


@pytest.mark.parametrize("n, after", [(1, [1, 1]), (3, [1, 2]), (5, [2, 4]), (9, [3, 6]), (11, [4, 8])])
def test_depthmult_pool_placement(n, after):
    assert pool_positions(n, 2) == after
    space = DepthMultSpace(depth=[n])
    specs = space.specs(space.arch_at(0), 3)
    blocks_before_pools = [sum(isinstance(s, ConvSpec) for s in specs[:i]) for i, s in enumerate(specs)
                           if isinstance(s, MaxPoolSpec)]
    assert blocks_before_pools == after
    assert pool_positions(7, 3) == [2, 4, 6] and pool_positions(4, 0) == []


def test_depthmult_same_padding_and_features():
    space = DepthMultSpace(depth=[5])
    arch = space.from_id("k5-3-5-3-5_m1.5-1-1.25-1-1.5")
    info = space.describe(arch, CIFAR)
    convs = [layer for layer in info.layers if layer.kind == "conv"]
    sizes = [layer.out_shape[1] for layer in convs]
    assert sizes == [32, 32, 16, 16, 8]  # pools after blocks 2 and 4
    assert [layer.padding for layer in convs] == [2, 1, 2, 1, 2]
    assert [layer.kind for layer in info.layers[:4]] == ["conv", "relu", "bn", "conv"]
    assert arch.params == {"depth": 5, "kernel": "5,3,5,3,5", "mult": "1.5,1,1.25,1,1.5", "widths": "36,36,45,45,68"}
    assert info.out_shape == (68, 8, 8) and info.features == 68 * 64
    check_module_matches_describe(space, arch, CIFAR)


def test_depthmult_id_round_trip_and_errors():
    space = DepthMultSpace(depth=[3, 5])
    assert len(space) == 216 + 7776 and space.arch_at(216).id == "k3-3-3-3-3_m1-1-1-1-1"
    assert space.arch_at(1).id == "k3-3-3_m1-1-1.25" and space.arch_at(3).id == "k3-3-5_m1-1-1"
    for i in np.random.default_rng(2).integers(0, len(space), 300).tolist():
        arch = space.arch_at(i)
        assert space.from_id(arch.id) == arch and space.index_of(arch) == i
    assert space.from_id("k3-5-3_m1.0-1.250-1.5").id == "k3-5-3_m1-1.25-1.5"
    for bad, match in [("k3-5_m1-1", "depths are 3, 5"), ("k3-5-3_m1-1.3-1", "multiplier 1.3"),
                       ("k3-7-3_m1-1-1", "kernel 7"), ("k3-5-3_m1-1", "3 kernels but 2"), ("3-5-3", "malformed")]:
        with pytest.raises(ValueError, match=match):
            space.from_id(bad)


def test_depthmult_validity_and_modules():
    space = DepthMultSpace(depth=[3, 9])
    for i in (0, 100, 215, 216, 5000):
        check_module_matches_describe(space, space.arch_at(i), CIFAR)
    info = space.describe(space.arch_at(0), (3, 3, 3))
    assert not info.valid and info.reason.startswith("pool 2 after block 2 (maxpool k2 s2): input 1x1")
    assert not space.is_valid(space.arch_at(0), (3, 3, 3)) and space.is_valid(space.arch_at(0), (3, 4, 4))
    assert space.describe(space.arch_at(0), (3, 4, 4)).out_shape == (24, 1, 1)


# -- samplers -------------------------------------------------------------------------------


def test_sampler_options():
    values, problems = validate_options(SAMPLER_OPTIONS, {}, "sampler")
    assert {k: v for k, v in values.items() if v is not None} == {"kind": "exhaustive", "valid_only": False}
    assert not problems and set(values) == {"kind", "n", "valid_only", "ids", "file", "trials", "objective",
                                            "algorithm", "batch"}
    _, problems = validate_options(SAMPLER_OPTIONS, {"kind": "grid", "n": 0}, "sampler")
    assert {p for p, _ in problems} == {"sampler.kind", "sampler.n"}


class Counted(DepthMultSpace):
    """depthmult that counts the architectures built and fit-checked (the sampler's work)."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.built = self.checked = self.described = 0

    def arch_at(self, index):
        self.built += 1
        return super().arch_at(index)

    def is_valid(self, arch, in_shape):
        self.checked += 1
        return super().is_valid(arch, in_shape)

    def describe(self, arch, in_shape):
        self.described += 1
        return super().describe(arch, in_shape)


def test_exhaustive_order_and_cap():
    space = KsdSpace()
    archs = sample(space, "exhaustive")
    assert archs == list(space) and len(archs) == 46_656
    counted = Counted(depth=[3])
    assert len(sample(counted, "exhaustive")) == len(counted) == 216
    assert (counted.built, counted.checked, counted.described) == (216, 0, 0)  # no fit check without valid_only
    assert sample(space, "exhaustive", n=5) == archs[:5]
    assert len(sample(DepthMultSpace(depth=[2]), "exhaustive", n=100)) == 36  # a cap, not a demand
    valid = sample(space, "exhaustive", n=10, valid_only=True, in_shape=STL)
    assert valid == [a for a in archs if space.is_valid(a, STL)][:10]
    with pytest.raises(ValueError, match="sampler.n"):
        sample(DepthMultSpace(depth=[11]), "exhaustive")
    assert EXHAUSTIVE_LIMIT < 6**11


def test_random_distinct_deterministic_and_seeded():
    space = KsdSpace()
    a = sample(space, "random", 500, seed=0)
    assert len({x.id for x in a}) == 500
    assert a == sample(space, "random", 500, seed=0)
    assert a[:100] == sample(space, "random", 100, seed=0)  # a larger n extends a smaller one
    assert a != sample(space, "random", 500, seed=1)
    assert [x.id for x in a] != [x.id for x in sample(KsdSpace(), "exhaustive", 500)]
    everything = sample(space, "random", len(space), seed=3)
    assert len({x.id for x in everything}) == len(space)


def test_random_valid_only_and_too_many():
    space = KsdSpace()
    archs = sample(space, "random", 200, seed=0, valid_only=True, in_shape=STL)
    assert len(archs) == 200 and all(space.describe(a, STL).valid for a in archs)
    assert archs == [a for a in sample(space, "random", 400, seed=0) if space.is_valid(a, STL)][:200]
    with pytest.raises(ValueError, match="46,656"):
        sample(space, "random", 46_657)
    with pytest.raises(ValueError, match="only 32,021 of the 46,656"):
        sample(space, "random", 32_022, valid_only=True, in_shape=STL)
    with pytest.raises(ValueError, match="needs n"):
        sample(space, "random", None)
    with pytest.raises(ValueError, match="input shape"):
        sample(space, "random", 3, valid_only=True)


def test_random_on_a_huge_space_costs_what_it_returns():
    space = Counted(depth=[11])
    assert len(space) == 6**11
    archs = sample(space, "random", 2000, seed=0, valid_only=True, in_shape=CIFAR)
    assert len({a.id for a in archs}) == 2000 and all(a.params["depth"] == 11 for a in archs)
    # each drawn index is built and checked once (all of these fit 3x32x32), and drawing stops there
    assert (space.built, space.checked, space.described) == (2000, 2000, 0)


def test_random_order_is_a_permutation():
    for size in (0, 1, 2, 7, 1000):
        order = list(random_order(size, np.random.default_rng(0)))
        assert sorted(order) == list(range(size))


def test_plugin_registers_both_spaces():
    registered = []
    rcx_register_spaces(registered.append)
    assert registered[:2] == [KsdSpace, DepthMultSpace]
    from rcx.spaces.mlp2 import MLP2Space
    from rcx.spaces.nb201 import NB201Space

    assert {NB201Space, MLP2Space} <= set(registered) and len(set(registered)) == len(registered)
