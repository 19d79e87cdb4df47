"""Fidelity of the zero-cost proxies to the reference code's procedure (issue 21).

On NAS-Bench-201 cells where the channels-last layout's rounding shows, the evaluators' default
scores equal the reference procedure (zero-cost-nas's GraSP, ZiCo's per-split loop with float32
NumPy statistics), run on a contiguous copy of the same network with the same weights and batch,
to 1e-4 relative; ``layout = "channels_last"`` moves them by more (the documented deviation).
The reference procedures are written here as the reference code does them (``.backward()``
into ``.grad``, two forward passes for GraSP), independently of ``rcx_zerocost.proxies``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rcx.api import EvalContext, RunContext, generator, init_weights
from rcx.api.dataset import ImageDataset
from rcx.spaces.nb201 import NB201Space

SPACE = NB201Space(channels=8, cells=1)
SIZE = 16
SEED = 5
ZICO_CELL = 14333  # channels-last moves zico by about 2 % here
GRASP_CELL = 1204  # and grasp by about 1.4e-3 here


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """One thread: a fixed summation order, so the layouts' difference is deterministic."""


def _dataset() -> ImageDataset:
    g = torch.Generator().manual_seed(7)
    return ImageDataset("t", torch.randint(0, 256, (80, 3, SIZE, SIZE), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (80,), generator=g), torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8),
                        torch.zeros(1, dtype=torch.long), [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3)


def _evaluate(registry, name: str, index: int, **options) -> tuple[float, object]:
    """The evaluator's score on cell ``index`` (weights from ``SEED``) and the evaluator."""
    ev = registry.entries["evaluator"][name].obj({"batch_size": 64, **options})
    ev.prepare(RunContext(_dataset(), SPACE, torch.device("cpu"), 0))
    arch = SPACE.arch_at(index)
    result = ev.evaluate(EvalContext(arch, SPACE.describe(arch, (3, SIZE, SIZE)), SEED, torch.device("cpu")))
    return result.metrics["score"], ev


def _reference_net(ev, index: int) -> nn.Module:
    """The candidate's classifier with the evaluator's weights, contiguous, BatchNorm in train mode."""
    net = SPACE.build_classifier(SPACE.arch_at(index), (3, SIZE, SIZE), 10)
    init_weights(net, "default", generator(SEED, "trial", 0))
    return net.train()


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def reference_grasp(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """zero-cost-nas ``measures/grasp.py`` (T = 1, one iteration, one split): grad_w from one
    pass, grad_f with ``create_graph`` from a second, ``z = sum grad_w * grad_f`` backward, the
    score ``sum -theta * theta.grad``."""
    weights = [m.weight for m in _layers(net)]
    grad_w = torch.autograd.grad(F.cross_entropy(net(x), y), weights, allow_unused=True)
    grad_f = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True, allow_unused=True)
    z = sum((gw.data * gf).sum() for gw, gf in zip(grad_w, grad_f) if gw is not None)
    net.zero_grad()
    z.backward()
    return float(sum((-w.data * w.grad).sum() for w in weights if w.grad is not None))


def reference_zico(net: nn.Module, x: torch.Tensor, y: torch.Tensor, splits: int = 2) -> float:
    """ZiCo ``compute_zico.py``: per split a forward and ``backward`` into ``.grad``; per layer
    float32 NumPy ``std`` and ``mean(abs)`` across the splits, ``log sum`` over non-zero std."""
    grads: dict[int, list[np.ndarray]] = {}
    n = x.shape[0]
    for s in range(splits):
        a, b = s * n // splits, (s + 1) * n // splits
        net.zero_grad()
        F.cross_entropy(net(x[a:b]), y[a:b]).backward()
        for i, m in enumerate(_layers(net)):
            if m.weight.grad is not None:
                grads.setdefault(i, []).append(m.weight.grad.data.cpu().reshape(-1).numpy().copy())
    score = 0.0
    for per_split in grads.values():
        g = np.array(per_split)
        std, mean_abs = np.std(g, axis=0), np.mean(np.abs(g), axis=0)
        nz = np.nonzero(std)[0]
        total = np.sum(mean_abs[nz] / std[nz])
        if total != 0:
            score += np.log(total)
    return float(score)


@pytest.mark.parametrize("name,index,reference", [("zico", ZICO_CELL, reference_zico),
                                                  ("grasp", GRASP_CELL, reference_grasp)])
def test_default_scores_equal_the_reference_where_channels_last_rounding_shows(registry, name, index, reference):
    score, ev = _evaluate(registry, name, index)
    expected = reference(_reference_net(ev, index), ev.batch.x, ev.batch.y)
    assert score == pytest.approx(expected, rel=1e-4)
    fast, _ = _evaluate(registry, name, index, layout="channels_last")
    assert abs(fast - expected) > 1e-4 * abs(expected)  # the cell shows the channels-last deviation
    assert abs(fast - expected) < 5e-2 * abs(expected)  # ... within what the option's help states


def test_the_layout_option_is_the_reference_layout_by_default(registry):
    for name in ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "zico"):
        option = next(o for o in registry.entries["evaluator"][name].obj.options if o.name == "layout")
        assert option.default == "contiguous" and option.choices == ("contiguous", "channels_last")


@pytest.mark.parametrize("index", [GRASP_CELL, ZICO_CELL, 9000])
def test_zen_runs_channels_last_on_a_cpu_within_rounding_of_the_reference_layout(registry, index):
    """zen's ``layout = "auto"`` is channels-last on a CPU, and its score stays within 1e-5 of
    the contiguous (reference) layout's."""
    option = next(o for o in registry.entries["evaluator"]["zen"].obj.options if o.name == "layout")
    assert option.default == "auto" and option.choices == ("auto", "contiguous", "channels_last")
    score, ev = _evaluate(registry, "zen", index)
    assert ev.memory_format == torch.channels_last and ev.x.is_contiguous(memory_format=torch.channels_last)
    reference, ref_ev = _evaluate(registry, "zen", index, layout="contiguous")
    assert ref_ev.memory_format == torch.contiguous_format
    assert score == pytest.approx(reference, rel=1e-5)
