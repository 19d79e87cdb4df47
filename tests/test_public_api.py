"""``rcx.api``, the public plugin API: what it exports and its fixed-batch helper. (That the
plugins under ``plugins/`` use nothing else of rcx is an import-linter contract, run by
tests/test_layers.py.)"""

from __future__ import annotations

import pytest
import torch

import rcx.api
from rcx.api import FixedBatch, ImageDataset, RunContext, generator
from rcx.spaces.ksd import KsdSpace


def test_the_api_exports_what_a_plugin_needs():
    needed = {"Evaluator", "EvalContext", "EvalResult", "RunContext", "Option", "Metric", "hookimpl", "generator",
              "INIT_SCHEMES", "init_weights", "FixedBatch"}
    assert needed <= set(rcx.api.__all__)
    assert all(hasattr(rcx.api, name) for name in rcx.api.__all__)
    assert "stable" in (rcx.api.__doc__ or "")


def _data(n: int = 30) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    return ImageDataset("t", torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (n,), generator=g), torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
                        torch.zeros(1, dtype=torch.long), [str(i) for i in range(10)], (0.5, 0.4, 0.3),
                        (0.2, 0.2, 0.25))


def test_fixed_batch_is_seeded_by_plan_seed_and_stream_and_normalised():
    data, space = _data(), KsdSpace(channels=4, layers=2)
    ctx = RunContext(data, space, torch.device("cpu"), 7)
    batch = FixedBatch.draw(ctx, 12, "demo")
    again = FixedBatch.draw(ctx, 12, "demo")
    assert torch.equal(batch.index, again.index) and torch.equal(batch.x, again.x)
    assert len(set(batch.index.tolist())) == 12
    assert not torch.equal(batch.index, FixedBatch.draw(ctx, 12, "other").index)
    other_seed = RunContext(data, space, torch.device("cpu"), 8)
    assert not torch.equal(batch.index, FixedBatch.draw(other_seed, 12, "demo").index)
    mean, std = torch.tensor(data.mean).view(1, 3, 1, 1), torch.tensor(data.std).view(1, 3, 1, 1)
    torch.testing.assert_close(batch.x, (data.train_x[batch.index].float() / 255 - mean) / std)
    assert torch.equal(batch.y, data.train_y[batch.index])
    raw = FixedBatch.draw(ctx, 12, "demo", normalize=False)
    torch.testing.assert_close(raw.x, data.train_x[batch.index].float() / 255)
    arch = space.from_id("k3-3_s1-1_d1-1")
    assert batch.build(arch)(batch.x).shape == (12, 10)
    assert batch.build(arch, head=False)(batch.x).shape == (12, 4, 4, 4)
    with pytest.raises(ValueError, match="31 images but the dataset's train split has 30"):
        FixedBatch.draw(ctx, 31, "demo")


def test_fixed_batch_is_the_batch_cvu_draws_for_itself():
    """cvu (and naswot) can switch to FixedBatch with the stream named after themselves (cvu's
    default training-transform augmentation comes after the draw, so it is off here)."""
    from rcx.evaluators.cvu import CVU

    data, space = _data(), KsdSpace(channels=4, layers=2)
    ctx = RunContext(data, space, torch.device("cpu"), 3)
    cvu = CVU({"batch_size": 20, "augment": False})
    cvu.prepare(ctx)
    batch = FixedBatch.draw(ctx, 20, "cvu")
    assert torch.equal(cvu.batch_index, batch.index) and torch.equal(cvu.y, batch.y)
    assert torch.equal(cvu.x.contiguous(), batch.x)


def test_fixed_batch_transform_runs_on_the_uint8_images_before_normalising():
    data, space = _data(), KsdSpace(channels=4, layers=2)
    ctx = RunContext(data, space, torch.device("cpu"), 3)
    seen = []

    def flip(images: torch.Tensor) -> torch.Tensor:
        seen.append(images.dtype)
        return images.flip(-1)

    plain, flipped = FixedBatch.draw(ctx, 12, "demo"), FixedBatch.draw(ctx, 12, "demo", transform=flip)
    assert seen == [torch.uint8] and torch.equal(flipped.index, plain.index) and torch.equal(flipped.y, plain.y)
    assert torch.equal(flipped.x, plain.x.flip(-1))


def test_cvu_and_naswot_use_the_api_batch():
    """cvu's augmented batch is FixedBatch's with cvu's crop-and-flip as the transform, and
    naswot's is FixedBatch's under its own stream: one drawing code, the same numbers."""
    from rcx.evaluators.cvu import CVU
    from rcx.nn.train import EpochDraws, crop_flip
    from rcx_naswot.evaluator import NASWOT

    data, space = _data(40), KsdSpace(channels=4, layers=2)
    ctx = RunContext(data, space, torch.device("cpu"), 5)
    cvu = CVU({"batch_size": 24, "augment": True, "path": "batched"})
    cvu.prepare(ctx)
    draws = EpochDraws(24, generator(5, "cvu", "augment"), torch.device("cpu"))
    batch = FixedBatch.draw(ctx, 24, "cvu", transform=lambda im: crop_flip(im, draws.dy, draws.dx, draws.flip))
    assert torch.equal(cvu.x, batch.x) and torch.equal(cvu.batch_index, batch.index)
    assert not torch.equal(cvu.x, FixedBatch.draw(ctx, 24, "cvu").x)  # the augmentation did something
    naswot = NASWOT({"batch_size": 16})
    naswot.prepare(ctx)
    assert torch.equal(naswot.x, FixedBatch.draw(ctx, 16, "naswot").x)


def test_build_every_edge_runs_the_edges_nb201_prunes():
    """nb201 skips edges that cannot reach a cell's output; ``build_every_edge`` keeps them (same
    output, more modules), and spaces without pruning build as usual."""
    from rcx.api import build_every_edge
    from rcx.spaces.nb201 import NB201Space

    space = NB201Space(channels=4, cells=1)
    arch = space.from_id("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|")
    pruned, full = space.build(arch, (3, 8, 8)), build_every_edge(space, arch, (3, 8, 8))
    full.load_state_dict(pruned.state_dict())
    x = torch.randn(2, 3, 8, 8)

    def run(model: torch.nn.Module) -> tuple[torch.Tensor, int]:
        calls = [0]
        hooks = [m.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
                 for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        out = model.eval()(x)
        for h in hooks:
            h.remove()
        return out, calls[0]

    (out_pruned, convs_pruned), (out_full, convs_full) = run(pruned), run(full)
    assert convs_full == convs_pruned + 9  # per stage (one cell each) the dead nodes' three 3x3 convs
    torch.testing.assert_close(out_full, out_pruned)
    ksd = KsdSpace(channels=4, layers=2)
    k = ksd.from_id("k3-3_s1-1_d1-1")
    assert str(build_every_edge(ksd, k, (3, 8, 8))) == str(ksd.build(k, (3, 8, 8)))
