"""The plugin package rcx-naswot: installed, listed with its distribution, usable from a plan,
correct, and a broken copy of it does not stop rcx.

Like any plugin's tests, these use only rcx's public API (``rcx.api``), its test kit
(``rcx.testing``: the ``rcx_registry`` and ``rcx_run`` fixtures) and the ``rcx`` command."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

from rcx.testing import SMALL_DATASET

PACKAGE = Path(__file__).resolve().parents[1]

PLAN = """
seed = 0
device = "cpu"
output = "{output}"
[dataset]
name = "synthetic"
n_train = 80
n_test = 10
image_size = 16
[space]
name = "ksd"
channels = 4
[sampler]
kind = "random"
n = 3
valid_only = true
[evaluators.naswot]
batch_size = 32
trials = 2
"""


@pytest.fixture(scope="module", autouse=True)
def installed():
    try:
        metadata.distribution("rcx-naswot")
    except metadata.PackageNotFoundError:
        pytest.fail("rcx-naswot is not installed in this environment: pip install -e plugins/rcx-naswot "
                    "(README's test command does it)")


def _rcx(args: list[str], cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "rcx", *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture
def space(rcx_registry):
    """``space(name, **options)``: a registered search space."""
    return lambda name, **options: rcx_registry.get("space", name)(**options)


def test_rcx_plugins_lists_naswot_with_its_distribution(tmp_path, rcx_registry):
    entry = rcx_registry.entries["evaluator"]["naswot"]
    assert entry.dist == "rcx-naswot" and entry.obj.__module__ == "rcx_naswot.evaluator"
    proc = _rcx(["plugins"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if " naswot " in ln)
    assert "rcx-naswot 0.1.0" in line and "evaluator" in line


def test_a_plan_using_naswot_runs_and_lands_in_the_results(rcx_run):
    table = rcx_run({"naswot": {"batch_size": 32, "trials": 2}}, dataset_options={**SMALL_DATASET, "n_train": 80},
                    n=3)
    assert len(table.rows) == 3 and table.evaluators == ["naswot"]
    for r in table.rows:
        assert r["naswot.status"] == "done", r["naswot.error"]
        assert r["naswot.relu_units"] > 0 and math.isfinite(r["naswot.score"])
    assert table.higher_is_better["naswot.score"] is True


def test_score_is_the_log_determinant_of_the_hamming_kernel(space):
    from rcx_naswot.evaluator import naswot_score, relu_kernel

    ksd = space("ksd", channels=4, layers=2)
    net = ksd.build(ksd.from_id("k3-3_s1-2_d1-1"), (3, 12, 12))
    x = torch.randn(10, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    kernel, units = relu_kernel(net, x)
    with torch.no_grad():  # by hand: concatenated codes of both ReLUs, K = N_A - hamming distance
        h1 = net[1](net[0](x))
        h2 = net[3](net[2](h1))
    codes = torch.cat([(h1 > 0).flatten(1), (h2 > 0).flatten(1)], 1).double()
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1).double()
    assert units == codes.shape[1]
    torch.testing.assert_close(kernel, codes.shape[1] - hamming)
    assert naswot_score(kernel) == pytest.approx(torch.linalg.slogdet(codes.shape[1] - hamming)[1].item())
    assert naswot_score(torch.ones(3, 3, dtype=torch.float64)) == float("-inf")


@pytest.mark.parametrize("int8", [True, False])
def test_one_product_layer_kernel_equals_the_two_product_definition(monkeypatch, int8):
    from rcx_naswot.evaluator import layer_kernel

    if not int8:  # the float path (other devices, or a torch without the CPU int8 product)
        monkeypatch.delattr(torch, "_int_mm", raising=False)
    g = torch.Generator().manual_seed(3)
    for n, u in ((5, 1), (3, 2), (7, 15), (7, 16), (9, 17), (16, 300), (33, 4099), (128, 1000)):
        codes = torch.rand(n, u, generator=g) > torch.rand(1, generator=g)
        c = codes.float()
        expected = (c @ c.T + (1 - c) @ (1 - c).T).double()
        assert torch.equal(layer_kernel(codes), expected)


@pytest.mark.parametrize("int8", [True, False])
def test_int8_codes_written_by_the_comparison_give_the_same_kernel(monkeypatch, int8):
    """The hook's codes (``x > 0`` written as int8 on a CPU) give the bool codes' kernel, bit for bit."""
    from rcx_naswot.evaluator import binary_codes, layer_kernel

    if not int8:
        monkeypatch.delattr(torch, "_int_mm", raising=False)
    g = torch.Generator().manual_seed(4)
    for shape in ((5, 1, 1, 1), (7, 2, 3, 3), (16, 4, 8, 8), (64, 16, 9, 7)):
        x = torch.randn(shape, generator=g)
        x[0].zero_()  # 0 is not active
        codes = binary_codes(x)
        assert codes.dtype == torch.int8 and codes.shape == (shape[0], x[0].numel())
        c = (x > 0).flatten(1).float()
        assert torch.equal(layer_kernel(codes), (c @ c.T + (1 - c) @ (1 - c).T).double())


def test_channels_last_codes_give_the_contiguous_codes_kernel():
    """A channels-last map's codes, written in its memory order, give the kernel of the
    contiguous map's codes, bit for bit (the kernel sums over units)."""
    from rcx_naswot.evaluator import binary_codes, layer_kernel

    x = torch.randn(16, 5, 7, 6, generator=torch.Generator().manual_seed(6))
    x[1, :, 2].zero_()
    cl = x.contiguous(memory_format=torch.channels_last)
    assert not cl.is_contiguous()
    codes = binary_codes(cl)
    assert codes.shape == (16, 5 * 7 * 6) and torch.equal(codes, binary_codes(x.permute(0, 2, 3, 1).contiguous()))
    assert torch.equal(layer_kernel(codes), layer_kernel(binary_codes(x)))


def _evaluator_score(rcx_registry, space, index: int, **options) -> tuple[float, object]:
    """The naswot evaluator's score of NAS-Bench-201 cell ``index`` (C = 8, one cell per stage,
    16x16 images, 64 of them) and the evaluator."""
    from rcx.api import EvalContext, ImageDataset, RunContext

    g = torch.Generator().manual_seed(7)
    data = ImageDataset("t", torch.randint(0, 256, (80, 3, 16, 16), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (80,), generator=g), torch.zeros(1, 3, 16, 16, dtype=torch.uint8),
                        torch.zeros(1, dtype=torch.long), [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3)
    ev = rcx_registry.get("evaluator", "naswot")({"batch_size": 64, **options})
    ev.prepare(RunContext(data, space, torch.device("cpu"), 0))
    arch = space.arch_at(index)
    result = ev.evaluate(EvalContext(arch, space.describe(arch, (3, 16, 16)), 5, torch.device("cpu")))
    return result.metrics["score"], ev


@pytest.mark.parametrize("index", [1204, 9000, 14333])
def test_the_cpu_default_runs_channels_last_within_rounding_of_the_reference_layout(rcx_registry, space, index):
    nb201 = space("nb201", channels=8, cells=1)
    score, ev = _evaluator_score(rcx_registry, nb201, index)
    assert ev.memory_format == torch.channels_last and ev.x.is_contiguous(memory_format=torch.channels_last)
    reference, ref_ev = _evaluator_score(rcx_registry, nb201, index, layout="contiguous")
    assert ref_ev.memory_format == torch.contiguous_format and math.isfinite(reference)
    assert score == pytest.approx(reference, rel=1e-5)


DEAD_CONV = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"


def _naswot(space, arch_id, edges="all", relu_match="type", x_shape=(12, 3, 16, 16)):
    from rcx_naswot.evaluator import build_network, naswot_score, relu_kernel

    x = torch.randn(*x_shape, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)  # the same weights for both builds: pruning removes no module
    net = build_network(space, space.from_id(arch_id), x_shape[1:], edges == "all").train()
    kernel, units = relu_kernel(net, x, relu_match)
    return naswot_score(kernel), units


def test_relu_units_by_hand_for_a_cell_with_a_dead_conv(space):
    """C = 4, one cell per stage, 16x16 input: per-image ReLU units counted by hand."""
    space = space("nb201", channels=4, cells=1)
    stage = [4 * 16 * 16, 8 * 8 * 8, 16 * 4 * 4]  # units of one ReLU at each stage's resolution
    cells = sum(stage)  # the live 1x1 conv on node 2 -> 3, once per stage (one cell each)
    res = stage[0] + stage[1] + stage[1] + stage[2]  # reduction blocks: conv_a at the input, conv_b after
    last = stage[2]  # the final BN -> ReLU
    assert _naswot(space, DEAD_CONV, "reachable")[1] == cells + res + last == 4352
    assert _naswot(space, DEAD_CONV, "all")[1] == 2 * cells + res + last == 6144  # + the dead 3x3 conv's ReLU
    # the public code's rule: ReLUConvBN wrappers match 'ReLU' too, so every ReLU-Conv-BN counts twice
    assert _naswot(space, DEAD_CONV, "all", "name")[1] == 2 * (2 * cells + res) + last == 12032
    assert _naswot(space, DEAD_CONV, "reachable", "name")[1] == 2 * (cells + res) + last


def test_name_matching_adds_the_wrapper_inputs_kernel_once_more(space):
    """relu_match = "name": K = K(type) + the kernel of every ReLU inside a ReLU-Conv-BN."""
    from rcx_naswot.evaluator import relu_kernel

    space = space("nb201", channels=4, cells=1)
    net = space.build(space.from_id(DEAD_CONV), (3, 16, 16), prune_unreachable=False).train()
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    inner = []  # the codes of the ReLUs that sit inside a ReLUConvBN, collected independently
    handles = [m[0].register_forward_hook(lambda m, i, o: inner.append((o > 0).flatten(1).double()))
               for m in net.modules() if type(m).__name__ == "ReLUConvBN"]
    k_type, n_type = relu_kernel(net, x, "type")
    for h in handles:
        h.remove()
    k_name, n_name = relu_kernel(net, x, "name")
    codes = torch.cat(inner, 1)
    extra = codes @ codes.T + (1 - codes) @ (1 - codes).T
    assert n_name == n_type + codes.shape[1]
    torch.testing.assert_close(k_name, k_type + extra)


def _relus_run(net: torch.nn.Module, in_shape: tuple[int, int, int]) -> int:
    """How many ReLU modules a forward pass calls."""
    called: set[int] = set()
    handles = [m.register_forward_hook(lambda m, i, o: called.add(id(m)))
               for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(torch.zeros(1, *in_shape))
    for h in handles:
        h.remove()
    return len(called)


def test_edges_change_the_score_exactly_for_cells_with_dead_relus(space):
    space = space("nb201", channels=2, cells=1)
    ids = [space.arch_at(i).id for i in torch.randperm(len(space), generator=torch.Generator().manual_seed(0))[:40]]
    ids += [DEAD_CONV, "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|none~1|none~2|"]
    # a cell has dead ReLUs when the unpruned network runs ReLU modules the pruned one skips
    dead = [_relus_run(space.build(space.from_id(a), (3, 8, 8), prune_unreachable=False), (3, 8, 8))
            > _relus_run(space.build(space.from_id(a), (3, 8, 8)), (3, 8, 8)) for a in ids]
    assert any(dead) and not all(dead)
    for arch_id, has_dead in zip(ids, dead):
        full, pruned = _naswot(space, arch_id, "all", x_shape=(8, 3, 8, 8)), \
            _naswot(space, arch_id, "reachable", x_shape=(8, 3, 8, 8))
        assert (full[1] != pruned[1]) == has_dead, arch_id
        if not has_dead:
            assert full == pruned, arch_id
        elif math.isfinite(full[0]) and math.isfinite(pruned[0]):
            assert full[0] != pruned[0], arch_id


def test_edges_all_is_the_default_and_other_spaces_ignore_it(space):
    from rcx_naswot.evaluator import NASWOT

    defaults = {o.name: o.default for o in NASWOT.options}
    assert defaults["edges"] == "all" and defaults["relu_match"] == "type"
    space = space("ksd", channels=4, layers=2)  # no prune_unreachable keyword: everything runs anyway
    assert _naswot(space, "k3-3_s1-2_d1-1", "all") == _naswot(space, "k3-3_s1-2_d1-1", "reachable")


def test_a_broken_copy_is_reported_without_stopping_rcx(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(PACKAGE / "rcx_naswot", site / "rcx_naswot_broken")
    plugin = site / "rcx_naswot_broken" / "plugin.py"
    plugin.write_text("raise ImportError('rcx-naswot-broken raises on import on purpose')\n" + plugin.read_text())
    info = site / "rcx_naswot_broken-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rcx-naswot-broken\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[rcx]\nnaswot = rcx_naswot_broken.plugin\n")

    listed = _rcx(["plugins"], tmp_path, pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    assert "rcx-naswot-broken" in listed.stderr and "raises on import on purpose" in listed.stderr
    assert "rcx-naswot 0.1.0" in listed.stdout and "ridge_rfm" in listed.stdout

    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(output=tmp_path / "broken.db"))
    ran = _rcx(["run", "--headless", "-q", str(plan)], tmp_path, pythonpath=site)
    assert ran.returncode == 0, ran.stderr
    assert "rcx-naswot-broken" in ran.stderr
    results = _rcx(["results", str(tmp_path / "broken.db"), "--format", "json"], tmp_path, pythonpath=site)
    assert results.returncode == 0, results.stderr
    assert {r["naswot.status"] for r in json.loads(results.stdout)} == {"done"}
