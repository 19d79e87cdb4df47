"""Truth tables: the shipped NAS-Bench-201 file, the plugin kind, and the strict join by id."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import types
from importlib import resources

import pytest

from rcx.analysis.common import AnalysisError
from rcx.analysis.truth import add_truth, is_truth_column, join_specs, parse_spec, resolve_names, space_truths
from rcx.api import TruthTable
from rcx.api.hooks import hookimpl
from rcx.api.options import Metric
from rcx.cli import main
from rcx.core.results import ResultsTable
from rcx.plugins import load_registry, truth_values
from rcx.truth.nb201 import SHA256, NB201Truth

from .analysis_store import hand_store, nb201_store

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def nb201():
    return truth_values(NB201Truth)


# -- the shipped file ---------------------------------------------------------------------------
def test_packaged_file_is_the_published_one():
    raw = resources.files("rcx.truth").joinpath("data", "nb201_truth.csv.gz").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SHA256
    notice = resources.files("rcx.truth").joinpath("data", "NOTICE.md").read_text()
    assert SHA256 in notice and "MIT" in notice and "ICLR 2020" in notice and "TPAMI 2021" in notice
    lines = gzip.decompress(raw).decode().splitlines()
    assert lines[0] == "arch,cifar10_test,cifar100_test,imagenet16_test" and len(lines) == 15_626


def test_integrity_and_known_values(nb201):
    assert len(nb201) == 15_625  # distinct ids (a dict would silently merge duplicates: counted above too)
    assert all(set(v) == {"cifar10", "cifar100", "imagenet16"} and all(math.isfinite(x) for x in v.values())
               for v in nb201.values())
    assert [round(nb201[ALL_NONE][s], 2) for s in ("cifar10", "cifar100", "imagenet16")] == [10.00, 1.00, 0.83]
    assert [round(nb201[BEST][s], 3) for s in ("cifar10", "cifar100", "imagenet16")] == [94.363, 73.513, 46.344]
    c10 = [v["cifar10"] for v in nb201.values()]
    assert round(max(c10), 3) == 94.373 and sum(round(x, 3) == 94.373 for x in c10) == 2
    means = [sum(v[s] for v in nb201.values()) / len(nb201) for s in ("cifar10", "cifar100", "imagenet16")]
    assert [round(m, 2) for m in means] == [87.06, 61.41, 33.59]


def test_ids_are_exactly_the_nb201_space(nb201):
    from rcx.spaces.nb201 import NB201Space

    space = NB201Space()
    assert {space.arch_at(i).id for i in range(len(space))} == set(nb201)


def test_truth_loader_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom rcx.plugins import truth_values\nfrom rcx.truth.nb201 import NB201Truth\n"
            "assert len(truth_values(NB201Truth)) == 15625\nassert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the plugin kind ----------------------------------------------------------------------------
def test_nb201_is_registered_through_the_entry_point(registry):
    entry = registry.entries["truth"]["nb201"]
    assert entry.dist == "rcx" and registry.truths["nb201"] is NB201Truth
    assert [m.name for m in NB201Truth.subsets] == ["cifar10", "cifar100", "imagenet16"]
    assert all(m.unit == "%" and m.higher_is_better for m in NB201Truth.subsets)


def test_plugins_command_lists_truths_and_their_subsets(capsys):
    assert main(["plugins", "-v"]) == 0
    out = capsys.readouterr().out
    assert "truth" in out and "nb201" in out and "imagenet16" in out


class TinyTruth(TruthTable):
    """A third-party truth table over three ksd ids."""

    name = "tiny"
    space = "ksd"
    subsets = (Metric("acc", "%", True), Metric("loss", "nats", False))

    def load(self):
        return {"a": {"acc": 50.0, "loss": 1.0}, "b": {"acc": 70.0, "loss": 0.5}, "c": {"acc": 60.0}}


class NoSpace(TruthTable):
    name = "nospace"
    subsets = (Metric("acc", "%", True),)

    def load(self):
        return {}


def _registry_with(*classes):
    def rcx_register_truths(register):
        for cls in classes:
            register(cls)

    plugin = types.SimpleNamespace(rcx_register_truths=hookimpl(rcx_register_truths))
    return load_registry([(plugin, "rcx-third-party")], entry_points=False)


def test_third_party_truth_joins_and_a_bad_declaration_is_reported(capsys):
    reg = _registry_with(TinyTruth)
    assert reg.entries["truth"]["tiny"].dist == "rcx-third-party"
    table = ResultsTable(["arch", "x.val"], [{"arch": a, "x.val": 1.0} for a in "abc"], {"x.val": True}, space="ksd")
    joined, cols = join_specs(table, ["tiny"], reg)
    assert cols == ["truth.tiny.acc", "truth.tiny.loss"]
    assert [r["truth.tiny.loss"] for r in joined.rows] == [1.0, 0.5, None]
    assert joined.higher_is_better["truth.tiny.loss"] is False and "truth.tiny.acc" not in table.columns

    bad = _registry_with(NoSpace)
    assert "nospace" not in bad.truths
    assert any("no 'space'" in p and "rcx-third-party" in p for p in bad.problems)


# -- the join -----------------------------------------------------------------------------------
def _table(ids, space="nb201"):
    return ResultsTable(["arch", "params", "m.score"], [{"arch": a, "params": 1, "m.score": 1.0} for a in ids],
                        {"m.score": True}, ["m"], space=space)


def test_strict_join_adds_named_columns_with_the_declared_direction(nb201):
    table = _table([ALL_NONE, BEST])
    joined, cols = add_truth(table, parse_spec("nb201:cifar100"))
    assert cols == ["truth.nb201.cifar100"] and joined.columns[-1] == "truth.nb201.cifar100"
    assert [r["truth.nb201.cifar100"] for r in joined.rows] == [nb201[ALL_NONE]["cifar100"], nb201[BEST]["cifar100"]]
    assert joined.higher_is_better["truth.nb201.cifar100"] is True
    assert joined.resolve("cifar100") == "truth.nb201.cifar100" and is_truth_column("truth.nb201.cifar100")
    assert not is_truth_column("truth.val_acc"), "an evaluator instance named 'truth' is not a truth table"
    again, _ = add_truth(joined, parse_spec("nb201:cifar100"))
    assert again.columns == joined.columns, "joining twice adds nothing"


@pytest.mark.parametrize("spec, match", [
    ("nb202:cifar10", r"unknown truth 'nb202:cifar10' \(known: .*nb201:cifar10, nb201:cifar100, nb201:imagenet16, "
                      r"nb_macro:cifar10"),
    ("nb201:cifar", r"truth table 'nb201' has no subset 'cifar' \(known: nb201:cifar10"),
])
def test_unknown_truth_or_subset_lists_the_known_ones(spec, match):
    with pytest.raises(AnalysisError, match=match):
        parse_spec(spec)


def test_a_bare_name_means_every_subset_except_where_one_is_needed():
    assert parse_spec("nb201").subsets == ("cifar10", "cifar100", "imagenet16")
    with pytest.raises(AnalysisError, match="several subsets; name one: nb201:cifar10, nb201:cifar100"):
        parse_spec("nb201", single=True)


def test_missing_ids_and_other_spaces_are_one_message_with_counts():
    ids = [ALL_NONE, BEST, "k3-3-3_s1-1-1_d1-1-1", "not-an-id"]
    with pytest.raises(AnalysisError, match=r"^2 of 4 architectures not in nb201 truth \(15,625 ids of the 'nb201' "
                                            r"space\): e.g. 'k3-3-3_s1-1-1_d1-1-1'$"):
        add_truth(_table(ids, space=None), parse_spec("nb201:cifar10"))
    with pytest.raises(AnalysisError, match="truth 'nb201' covers the 'nb201' space; this run is on 'ksd'"):
        add_truth(_table(ids[2:3], space="ksd"), parse_spec("nb201:cifar10"))
    with pytest.raises(AnalysisError, match="no architectures"):
        add_truth(_table([]), parse_spec("nb201:cifar10"))


def test_column_arguments_may_name_a_truth():
    table = _table([ALL_NONE, BEST])
    joined, names = resolve_names(table, ["m.score", "nb201:imagenet16", None])
    assert names == ["m.score", "truth.nb201.imagenet16", None]
    csv_like = ResultsTable([*table.columns, "odd:name"], [{**r, "odd:name": 1.0} for r in table.rows], space="nb201")
    assert resolve_names(csv_like, ["odd:name"])[1] == ["odd:name"], "an existing column wins over a truth spec"


def test_tui_gets_every_subset_of_a_covering_truth_and_nothing_elsewhere():
    with_truth = space_truths(_table([ALL_NONE, "unknown-id"]))
    assert with_truth.columns[-3:] == ["truth.nb201.cifar10", "truth.nb201.cifar100", "truth.nb201.imagenet16"]
    assert with_truth.rows[0]["truth.nb201.cifar10"] == pytest.approx(10.0)
    assert with_truth.rows[1]["truth.nb201.cifar10"] is None, "not strict: the views count it as missing"
    assert space_truths(_table(["k3"], space="ksd")).columns == ["arch", "params", "m.score"]
    assert space_truths(_table([ALL_NONE], space=None)).columns == ["arch", "params", "m.score"]


# -- rcx results --truth ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nb201_db(tmp_path_factory):
    """A hand-built nb201 run (real SQLite) with three official ids."""
    ids = [ALL_NONE, BEST, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
    return nb201_store(tmp_path_factory.mktemp("truth") / "nb201.db", ids)


def test_results_shows_the_truth_on_request(nb201_db, nb201, capsys):
    assert main(["results", str(nb201_db), "--format", "json"]) == 0
    assert not any(k.startswith("truth.") for k in json.loads(capsys.readouterr().out)[0]), "opt-in only"
    assert main(["results", str(nb201_db), "--truth", "nb201:cifar10", "--sort", "cifar10", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in rows][0] == BEST and rows[0]["truth.nb201.cifar10"] == nb201[BEST]["cifar10"]
    assert main(["results", str(nb201_db), "--truth", "nb201"]) == 0
    assert "truth.nb201.imagenet16" in capsys.readouterr().out


def test_results_with_a_bad_truth_exits_2(nb201_db, capsys):
    assert main(["results", str(nb201_db), "--truth", "nb201:cifar11"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no subset 'cifar11'" in err and "Traceback" not in err


def test_analyses_refuse_a_truth_of_another_space(tmp_path, capsys):
    db = hand_store(tmp_path / "ksd.db", [{"arch": f"a{i}", "proxy": 0.1 * i, "truth": 0.2 * i} for i in range(4)])
    assert main(["analyze", "corr", str(db), "--x", "proxy.val_acc", "--truth", "nb201:cifar10"]) == 2
    err = capsys.readouterr().err
    assert "4 of 4 architectures not in nb201 truth" in err and err.count("\n") == 1
    assert main(["analyze", "corr", str(db), "--x", "proxy.val_acc"]) == 2
    assert "--y COLUMN or --truth" in capsys.readouterr().err


@pytest.mark.slow
def test_params_baseline_over_the_whole_space(nb201):
    """The guide's known fact: the parameter count alone ranks NAS-Bench-201 about as well as
    published proxies (Kendall near 0.57); docs/guide/analyses.md quotes these figures."""
    from rcx.analysis.proxies import proxies_report
    from rcx.spaces.nb201 import NB201Space

    space = NB201Space()
    rows = []
    for i in range(len(space)):
        arch = space.arch_at(i)
        rows.append({"arch": arch.id, "params": space.describe(arch, (3, 32, 32)).params})
    table, _ = join_specs(ResultsTable(["arch", "params"], rows, space="nb201"), ["nb201:cifar10"])
    report = proxies_report(table, "truth.nb201.cifar10", boot=0, runs=100)
    (params,) = report.rows
    assert (params.metric, params.n) == ("params", 15_625)
    assert (round(params.spearman, 3), round(params.kendall, 3)) == (0.753, 0.578)
    assert report.random == (pytest.approx(87.063, abs=1e-3), pytest.approx(12.935, abs=1e-3))
