"""A run whose every evaluation fails ends with exit code 3 and names the most common error;
``rcx results DB --errors`` prints the failed evaluations with their tracebacks (issue 11, part 5)."""

from __future__ import annotations

import types

import pytest

from rcx import cli, plugins
from rcx.api import EvalResult, Evaluator, Metric, hookimpl
from rcx.core.failures import summarize
from rcx.exits import EXIT_ALL_FAILED, EXIT_OK
from rcx.plugins import load_registry

from .conftest import tiny_plan


def _explode_deep_inside(arch_id: str) -> None:
    raise RuntimeError(f"boom on {arch_id[:2]}")


class Explodes(Evaluator):
    """Fails on every candidate, or (``half``) on every other one."""

    name = "explodes"
    metrics = [Metric("value", "count", True)]
    half = False

    def evaluate(self, ctx):
        if self.half and ctx.arch.id.startswith("k3"):
            return EvalResult("done", {"value": 1.0})
        _explode_deep_inside("same")
        raise AssertionError("unreachable")


class SometimesExplodes(Explodes):
    name = "sometimes"
    half = True


@pytest.fixture
def with_exploding(monkeypatch):
    def rcx_register_evaluators(register):
        register(Explodes)
        register(SometimesExplodes)

    module = types.SimpleNamespace(rcx_register_evaluators=hookimpl(rcx_register_evaluators))
    registry = load_registry([(module, "rcx-boom")])
    monkeypatch.setattr(plugins, "_cached", registry)
    return registry


def _plan(tmp_path, evaluator: str):
    text = tiny_plan(tmp_path, n=4).read_text()
    start = text.index("[evaluators.ridge_rfm]")
    path = tmp_path / "plan.toml"
    path.write_text(text[:start] + f"[evaluators.{evaluator}]\n")
    return path


def test_every_evaluation_failed_exits_3_with_the_most_common_error(tmp_path, capsys, with_exploding):
    code = cli.main(["run", "--headless", "-q", str(_plan(tmp_path, "explodes"))])
    err = capsys.readouterr().err
    assert code == EXIT_ALL_FAILED == 3
    assert "every evaluation failed" in err and "(4x): RuntimeError: boom on sa" in err
    assert f"rcx results {tmp_path / 'results.db'} --errors" in err

    assert cli.main(["results", str(tmp_path / "results.db"), "--errors"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "4 of 4 evaluations failed" in out and out.count("== ") == 4
    assert "Traceback (most recent call last)" in out and "_explode_deep_inside" in out
    assert 'raise RuntimeError(f"boom on {arch_id[:2]}")' in out


def test_some_failures_exit_0_with_a_warning(tmp_path, capsys, with_exploding):
    code = cli.main(["run", "--headless", "-q", str(_plan(tmp_path, "sometimes"))])
    err = capsys.readouterr().err
    rows = []
    from rcx.core.store import Store

    store = Store.open_readonly(tmp_path / "results.db")
    try:
        rows = store.evaluations(store.run().id)
    finally:
        store.close()
    failed = sum(r["status"] == "failed" for r in rows)
    assert 0 < failed < 4, [r["arch"] for r in rows]
    assert code == EXIT_OK and f"warning: {failed} of 4 evaluations failed" in err


def test_summary_counts_invalid_as_no_result():
    rows = [{"status": "failed", "error": "ValueError: x\nmore"}, {"status": "invalid", "error": "too small"},
            {"status": "failed", "error": "ValueError: x"}, {"status": "failed", "error": "KeyError: y"},
            {"status": "running", "error": ""}]
    s = summarize(rows)
    assert (s.total, s.failed, s.common, s.common_count, s.all_failed) == (4, 3, "ValueError: x", 2, True)
    assert not summarize(rows + [{"status": "screened", "error": ""}]).all_failed
    assert not summarize([{"status": "invalid", "error": "r"}]).all_failed
