"""LC-Blocks (Lemma 3.1), frozen vs learnable spatial filters, the resnet_lc and torchvision spaces."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rcx.api.init import init_weights
from rcx.api.seeding import generator
from rcx.nn.lc import (
    LCBlock,
    filter_variance_entropy,
    freeze_spatial,
    is_spatial,
    lc_transform,
    set_folded,
    spatial_filters,
)
from rcx.nn.train import TrainConfig, train
from rcx.spaces.resnet_lc import ResNetLCSpace
from rcx.spaces.torchvision_models import TorchvisionSpace, build_model

from .test_train_loop import tiny_data

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize("geometry", [
    dict(in_ch=3, out_ch=5, kernel_size=3, expansion=4, padding=1),
    dict(in_ch=4, out_ch=6, kernel_size=5, expansion=2, stride=2, padding=2, dilation=1),
    dict(in_ch=4, out_ch=4, kernel_size=3, expansion=3, padding=2, dilation=2, bias=False),
    dict(in_ch=6, out_ch=6, kernel_size=3, expansion=8, padding=1, groups=6),  # depthwise
    dict(in_ch=4, out_ch=8, kernel_size=3, expansion=2, padding=1, groups=2),
])
def test_lc_block_with_no_op_folds_into_one_conv(geometry):
    """Lemma 3.1: pointwise after spatial == one conv with the combined filters."""
    block = LCBlock(**geometry)
    init_weights(block, "default", generator(0, "lc"))
    x = torch.randn(2, geometry["in_ch"], 11, 11, generator=torch.Generator().manual_seed(0))
    folded = block.fold()
    assert folded.weight.shape == (geometry["out_ch"], geometry["in_ch"] // geometry.get("groups", 1),
                                   geometry["kernel_size"], geometry["kernel_size"])
    torch.testing.assert_close(folded(x), block(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("geometry", [
    dict(in_ch=3, out_ch=5, kernel_size=3, expansion=4, padding=1),
    dict(in_ch=4, out_ch=6, kernel_size=5, expansion=2, stride=2, padding=2),
    dict(in_ch=6, out_ch=6, kernel_size=3, expansion=8, padding=1, groups=6),  # depthwise
    dict(in_ch=4, out_ch=8, kernel_size=3, expansion=2, padding=1, groups=2, padding_mode="reflect"),
])
def test_folded_compute_gives_the_blocks_outputs_and_gradients(geometry):
    """Computing folded (one conv with the combined filters, formed differentiably) is the
    same function with the same weight and input gradients as the two convolutions."""
    grads = []
    for folded in (False, True):
        block = LCBlock(**geometry)
        init_weights(block, "default", generator(0, "lc"))
        block.folded = folded
        x = torch.randn(2, geometry["in_ch"], 11, 11, generator=torch.Generator().manual_seed(0), requires_grad=True)
        y = block(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        grads.append((y.detach(), x.grad, block.spatial.weight.grad, block.pointwise.weight.grad,
                      None if block.pointwise.bias is None else block.pointwise.bias.grad))
    for a, b in zip(*grads):
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_set_folded_leaves_blocks_with_an_op_alone():
    model = nn.Sequential(LCBlock(3, 4, 3, 2, padding=1), LCBlock(4, 4, 3, 2, padding=1, op="relu"))
    assert set_folded(model) == 1 and model[0].folded and not model[1].folded
    model[0].set_op("bn")
    assert not model[0].folded  # an op between the convs: the block cannot compute folded


def test_lc_block_with_an_op_does_not_fold():
    block = LCBlock(3, 4, 3, 2, padding=1, op="relu")
    with pytest.raises(ValueError, match="does not fold"):
        block.fold()


def test_transform_replaces_every_spatial_conv_and_sets_ops():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 5, padding=2))
    assert lc_transform(model, 4, "bn_relu") == 2
    assert isinstance(model[0], LCBlock) and isinstance(model[3], LCBlock) and isinstance(model[2], nn.Conv2d)
    assert model[0].spatial.out_channels == 32 and model[3].pointwise.out_channels == 4
    assert isinstance(model[0].op[0], nn.BatchNorm2d) and model[0].op[0].num_features == 32
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 4, 8, 8)
    # A second transform keeps the blocks (no nesting) and only changes the op.
    assert lc_transform(model, 16, "none") == 2
    assert model[0].spatial.out_channels == 32 and isinstance(model[0].op, nn.Identity)


def test_transform_torchvision_resnet18_on_meta():
    with torch.device("meta"):
        model = build_model("resnet18")
    n_spatial = sum(is_spatial(m) for m in model.modules())
    assert n_spatial == 17  # the 3x3 stem + 16 block convs; the 1x1 downsample convs stay
    assert lc_transform(model, 2) == 17
    out = model(torch.empty(1, 3, 32, 32, device="meta"))
    assert out.shape == (1, 512, 1, 1)


def _train_short(mode: str, folded: bool = False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 4))
    lc_transform(model, 4)
    set_folded(model, folded)
    init_weights(model, "default", generator(0, "init"))
    if mode == "frozen":
        freeze_spatial(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)
    assert train(model, tiny_data(), cfg, seed=0).status == "done"
    return model, before


def test_frozen_spatial_weights_are_bit_identical_after_training():
    model, before = _train_short("frozen")
    spatial = [n for n, m in model.named_modules() if isinstance(m, LCBlock)]
    assert len(spatial) == 2
    for name in spatial:
        w = model.get_submodule(name).spatial.weight
        assert not w.requires_grad and w.grad is None  # no weight gradient was ever computed
        assert torch.equal(w, before[f"{name}.spatial.weight"])
        assert not torch.equal(model.get_submodule(name).pointwise.weight, before[f"{name}.pointwise.weight"])


@pytest.mark.parametrize("mode", ["frozen", "learnable"])
def test_folded_training_follows_the_two_conv_training(mode):
    """Two epochs with folded blocks end at the two-conv run's weights, up to float rounding;
    frozen spatial filters stay bit-identical either way."""
    a, _ = _train_short(mode, folded=False)
    b, before = _train_short(mode, folded=True)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-3, atol=1e-4, msg=name)
    if mode == "frozen":
        for name, m in b.named_modules():
            if isinstance(m, LCBlock):
                assert torch.equal(m.spatial.weight, before[f"{name}.spatial.weight"])


def test_learnable_spatial_weights_move():
    model, before = _train_short("learnable")
    for name, m in model.named_modules():
        if isinstance(m, LCBlock):
            assert not torch.equal(m.spatial.weight, before[f"{name}.spatial.weight"])


def test_filter_variance_entropy_bounds():
    g = torch.Generator().manual_seed(0)
    random = torch.randn(64, 16, 3, 3, generator=g)
    assert 0.9 < filter_variance_entropy(random) <= torch.log10(torch.tensor(9.0)).item() + 1e-9
    one_pattern = torch.randn(1, 1, 3, 3, generator=g) * torch.randn(64, 16, 1, 1, generator=g)
    assert filter_variance_entropy(one_pattern) < 1e-6
    model = nn.Sequential(LCBlock(3, 4, 3, 2, padding=1), nn.Conv2d(4, 4, 5, padding=2))
    shapes = [f.shape for f in spatial_filters(model)]
    assert shapes == [(4, 3, 3, 3), (4, 4, 5, 5)]


def test_resnet_lc_space_ids_sizes_and_params():
    space = ResNetLCSpace(depth=[8, 20], width=[4], expansion=[0, 2], kernel=[3, 5])
    assert len(space) == 8
    ids = [a.id for a in space]
    assert ids[:4] == ["resnet_lc-8-4-k3", "resnet_lc-8-4-k5", "resnet_lc-8-4x2-k3", "resnet_lc-8-4x2-k5"]
    for arch in space:
        assert space.from_id(arch.id) == arch
    arch = space.from_id("resnet_lc-20-4x2-k3")
    info = space.describe(arch, (3, 32, 32))
    model = space.build(arch, (3, 32, 32))
    assert info.params == sum(p.numel() for p in model.parameters())
    assert info.out_shape == (16, 1, 1) and info.features == 16
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 16, 1, 1)
    assert sum(isinstance(m, LCBlock) for m in model.modules()) == 19  # 6n + 1 spatial convs, n = 3
    plain = space.build(space.from_id("resnet_lc-20-4-k3"), (3, 32, 32))
    assert not any(isinstance(m, LCBlock) for m in plain.modules())


def test_resnet_20_16_has_the_papers_size():
    info = ResNetLCSpace(expansion=[0]).describe(ResNetLCSpace(expansion=[0]).arch_at(0), (3, 32, 32))
    assert 0.27e6 < info.params + 64 * 10 + 10 < 0.28e6  # He et al.: 0.27M parameters with the classifier


@pytest.mark.parametrize("options, message", [
    ({"depth": [21]}, "6n \\+ 2"),
    ({"kernel": [4]}, "odd kernels"),
    ({"expansion": [1, 1]}, "distinct"),
])
def test_resnet_lc_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        ResNetLCSpace(**options)


def test_resnet_lc_bad_id():
    with pytest.raises(ValueError, match="expected e.g. 'resnet_lc-20-16x8-k3'"):
        ResNetLCSpace().from_id("resnet-20")
    with pytest.raises(ValueError, match="not in this space"):
        ResNetLCSpace().from_id("resnet_lc-20-16x2-k3")


def test_torchvision_space_describes_on_meta_and_builds_for_32px():
    space = TorchvisionSpace()
    infos = {a.id: space.describe(a, (3, 32, 32)) for a in space}
    assert {k: v.out_shape for k, v in infos.items()} == {
        "resnet18": (512, 1, 1), "resnet50": (2048, 1, 1), "mobilenet_v2": (1280, 1, 1),
        "wide_resnet50_2": (2048, 1, 1)}
    assert 11.1e6 < infos["resnet18"].params < 11.2e6
    model = space.build(space.from_id("mobilenet_v2"), (3, 32, 32))
    assert sum(p.numel() for p in model.parameters()) == infos["mobilenet_v2"].params
    feats = model[0](torch.randn(1, 3, 32, 32))
    assert feats.shape[-2:] == (4, 4)  # two strides removed: 32 -> 4 instead of 32 -> 1
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        TorchvisionSpace(models=["vgg"])


@pytest.mark.gpu
def test_frozen_stays_bit_identical_under_bf16_channels_last_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    dev = torch.device("cuda")
    model = nn.Sequential(LCBlock(3, 8, 3, 4, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                          nn.Flatten(), nn.Linear(32, 4))
    init_weights(model, "default", generator(0, "init"))
    freeze_spatial(model)
    model.to(dev).to(memory_format=torch.channels_last)
    before = model[0].spatial.weight.detach().clone()
    data = tiny_data()
    data.train_x, data.train_y, data.val_x, data.val_y = (t.to(dev) for t in (data.train_x, data.train_y, data.val_x,
                                                                                data.val_y))
    data.normalize.mean, data.normalize.std = data.normalize.mean.to(dev), data.normalize.std.to(dev)
    cfg = TrainConfig(epochs=2, batch_size=16, weight_decay=0.1, dtype=torch.bfloat16, channels_last=True)
    assert train(model, data, cfg, seed=0).status == "done"
    assert torch.equal(model[0].spatial.weight, before)
