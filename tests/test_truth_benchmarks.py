"""The ``nats_sss`` and ``nb_macro`` truth tables: the shipped files, their ids against the
spaces, the canonical-code join, and ``rcx analyze proxies`` against them."""

from __future__ import annotations

import gzip
import hashlib
import math
from importlib import resources

import pytest

from rcx.analysis.truth import join_specs
from rcx.cli import main
from rcx.core.results import ResultsTable
from rcx.nn.nb_macro_codes import canonical_code
from rcx.plugins import truth_values
from rcx.truth import nats_sss, nb_macro
from rcx.truth.base import read_packaged_csv
from rcx.truth.nats_sss import NATSSizeTruth
from rcx.truth.nb_macro import NBMacroTruth

from .analysis_store import nb201_store

NATS_SUBSETS = ["cifar10", "cifar100", "imagenet16", "cifar10_valid", "cifar100_valid", "imagenet16_valid"]


@pytest.fixture(scope="module")
def sss():
    return truth_values(NATSSizeTruth)


@pytest.fixture(scope="module")
def macro():
    return truth_values(NBMacroTruth)


@pytest.mark.parametrize("module, rows", [(nats_sss, 32_768), (nb_macro, 6_561)])
def test_packaged_files_are_the_published_ones(module, rows):
    raw = resources.files("rcx.truth").joinpath("data", module.FILE).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == module.SHA256
    notice = resources.files("rcx.truth").joinpath("data", "NOTICE.md").read_text()
    assert module.SHA256 in notice and module.FILE in notice
    assert len(gzip.decompress(raw).decode().splitlines()) == rows + 1


def test_nats_sss_integrity_and_known_values(sss):
    assert len(sss) == 32_768 and all(list(v) == NATS_SUBSETS and all(map(math.isfinite, v.values()))
                                      for v in sss.values())
    assert [round(sss["64:64:64:64:64"][s], 2) for s in NATS_SUBSETS[:3]] == [93.40, 70.72, 47.17]
    assert [round(sss["8:8:8:8:8"][s], 2) for s in NATS_SUBSETS[:3]] == [79.79, 32.30, 15.53]
    assert max(sss, key=lambda a: sss[a]["cifar10"]) == "64:64:56:64:24" and sss["64:64:56:64:24"]["cifar10"] == 93.65
    assert NATSSizeTruth.attribution and "TPAMI 2021" in NATSSizeTruth.attribution
    from rcx.spaces.nats_sss import NATSSizeSpace

    space = NATSSizeSpace()
    assert [space.arch_at(i).id for i in range(len(space))] == list(sss), "the benchmark's index order is the space's"


def test_nb_macro_keys_by_canonical_code_and_equivalent_codes_share_a_record(macro):
    header, rows = read_packaged_csv(nb_macro.FILE)
    assert header == ["arch", "cifar10_test_mean", "cifar10_test_run1", "cifar10_test_run2", "cifar10_test_run3",
                      "std", "params", "flops"]
    every = {row[0]: row[1:] for row in rows}
    assert len(every) == 6_561
    assert all(every[code] == every[canonical_code(code)] for code in every), "the benchmark's own rule"
    assert len(macro) == 3_969 and all(canonical_code(c) == c for c in macro)
    from rcx.spaces.nb_macro import NBMacroSpace

    assert {a.id for a in NBMacroSpace()} == set(macro)
    v = macro["00000000"]
    assert (v["cifar10"], v["cifar10_std"]) == (45.3633, 0.0544)
    assert all(abs(v["cifar10"] - (v["cifar10_run1"] + v["cifar10_run2"] + v["cifar10_run3"]) / 3) < 6e-5
               for v in macro.values())
    assert round(max(v["cifar10"] for v in macro.values()), 2) == 93.13
    assert round(macro["22222222"]["cifar10"], 2) == 92.95


def test_registered_through_the_entry_point(registry):
    assert registry.truths["nats_sss"] is NATSSizeTruth and registry.truths["nb_macro"] is NBMacroTruth
    assert registry.entries["truth"]["nats_sss"].dist == "rcx" and NATSSizeTruth.space == "nats_sss"
    assert [m.name for m in NBMacroTruth.subsets][0] == "cifar10" and NBMacroTruth.space == "nb_macro"
    assert {"nats_sss", "nb_macro"} <= set(registry.entries["space"])


def test_loaders_import_no_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom rcx.plugins import truth_values\nfrom rcx.truth.nats_sss import NATSSizeTruth\n"
            "from rcx.truth.nb_macro import NBMacroTruth\n"
            "assert len(truth_values(NATSSizeTruth)) == 32768 and len(truth_values(NBMacroTruth)) == 3969\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_analyze_proxies_against_both(tmp_path, sss, macro, capsys):
    ids = ["8:8:8:8:8", "64:64:56:64:24", "32:16:48:8:64", "64:64:64:64:64", "16:16:16:16:16"]
    db = nb201_store(tmp_path / "sss.db", ids, space="nats_sss")
    assert main(["analyze", "proxies", str(db), "--truth", "nats_sss:cifar100", "--boot", "0"]) == 0
    assert "proxy.val_acc" in capsys.readouterr().out
    assert main(["results", str(db), "--truth", "nats_sss", "--format", "csv"]) == 0
    assert "truth.nats_sss.imagenet16_valid" in capsys.readouterr().out
    codes = ["00000000", "01020000", "22222222", "12012210", "21020210"]  # canonical, as a run's ids are
    db = nb201_store(tmp_path / "macro.db", codes, space="nb_macro")
    assert main(["analyze", "proxies", str(db), "--truth", "nb_macro:cifar10", "--boot", "0"]) == 0
    assert "proxy.val_acc" in capsys.readouterr().out
    assert main(["analyze", "proxies", str(db), "--truth", "nats_sss:cifar10", "--boot", "0"]) == 2
    assert "covers the 'nats_sss' space" in capsys.readouterr().err


@pytest.mark.slow
def test_size_baselines_over_the_whole_spaces():
    """rcx's params (without the classifier) against the data README's baselines: NATS-Bench SSS
    params 0.872 / 0.710 / 0.853 (with the classifier; rcx's count differs by 10 * c4 + 10),
    NAS-Bench-Macro params 0.318 and FLOPs 0.748 over the 6,561 codes, 0.315 and 0.738 over its
    3,969 distinct networks (the same ranking: the classifier is constant)."""
    from rcx.analysis.proxies import proxies_report
    from rcx.spaces.nats_sss import NATSSizeSpace
    from rcx.spaces.nb_macro import NBMacroSpace

    def spearman(space, truth: str) -> dict[str, float]:
        rows = []
        for arch in space:
            info = space.describe(arch, (3, 32, 32))
            rows.append({"arch": arch.id, "params": info.params, "flops": info.flops})
        table, (col,) = join_specs(ResultsTable(["arch", "params", "flops"], rows, space=space.name), [truth])
        return {r.metric: round(r.spearman, 3) for r in proxies_report(table, col, boot=0, runs=10).rows}

    assert spearman(NBMacroSpace(), "nb_macro:cifar10") == {"params": 0.315, "flops": 0.738}
    got = [spearman(NATSSizeSpace(), f"nats_sss:{s}")["params"] for s in ("cifar10", "cifar100", "imagenet16")]
    assert got == pytest.approx([0.872, 0.710, 0.853], abs=0.01)
