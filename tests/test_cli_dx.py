"""The command line as a newcomer meets it: clean usage lines, a misspelt command, a failure
printed once with -q, and a results file that is enough to resume its run."""

from __future__ import annotations

import types

import pytest

import rcx.plugins
from rcx.api import EvalResult, Evaluator, Metric, Option, hookimpl
from rcx.cli import build_parser, main
from rcx.testing import make_registry, plan_text


class Flaky(Evaluator):
    """Fails on every candidate whose id contains ``fail_on``; scores the parameter count otherwise."""

    name = "flaky"
    options = [Option("fail_on", str, "never", "substring of the ids that fail")]
    metrics = [Metric("score", "count", True)]

    def evaluate(self, ctx):
        if self.config["fail_on"] in ctx.arch.id:
            raise RuntimeError(f"flaky failure on {ctx.arch.id}")
        return EvalResult("done", {"score": float(ctx.info.params)})


@pytest.fixture
def cli_registry(monkeypatch):
    """The CLI's registry with :class:`Flaky` added (restored afterwards)."""
    def rcx_register_evaluators(register):
        register(Flaky)

    plugin = types.SimpleNamespace(rcx_register_evaluators=hookimpl(rcx_register_evaluators))
    monkeypatch.setattr(rcx.plugins, "_cached", make_registry(plugin, strict=False))


@pytest.mark.parametrize("command", ["run", "validate", "results", "spaces", "plugins", "analyze"])
def test_every_command_prints_a_clean_usage_line(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: rcx {command} ["), out.splitlines()[0]
    assert "RESULTS.db] /" not in out and "COMMAND [ARGS] " + command not in out


def test_a_misspelt_command_is_named_with_the_nearest_one(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["reslts"]) == 2
    err = capsys.readouterr().err
    assert "'reslts' is neither an rcx command nor a file" in err and "`rcx results`" in err
    assert "terminal" not in err
    assert main(["missing.toml"]) == 2
    assert "'missing.toml' is neither" in capsys.readouterr().err


def test_quiet_prints_each_failure_once(cli_registry, tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text({"flaky": {"fail_on": "k"}}, n=2, output=str(tmp_path / "r.db")))  # every ksd id has a k
    assert main(["run", "--headless", "-q", str(plan)]) == 3
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "flaky failure on" in line and line.startswith("[")]
    assert len(lines) == 2, err  # one line per failed evaluation, not "[error]" and "[failed]"


def test_a_results_file_resumes_its_run(cli_registry, tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    db = tmp_path / "runs" / "x.db"
    plan.write_text(plan_text({"flaky": {}}, n=3, output=str(db)))
    assert main(["run", "--headless", "-q", str(plan)]) == 0
    plan.unlink()  # edited in the TUI's form, or lost: the results file holds the plan
    capsys.readouterr()
    assert main(["run", "--headless", "--top", "0", str(db)]) == 0
    err = capsys.readouterr().err
    assert "resuming run 1" in err and "3/3 already done" in err
    assert main(["run", "--headless", "--db", str(tmp_path / "other.db"), str(db)]) == 2
    assert "is a results file" in capsys.readouterr().err
    assert build_parser().parse_args(["run", str(db)]).plan == db
