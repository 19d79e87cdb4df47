"""The execution settings are declared once (``EXECUTION_OPTIONS``): the settings' fields, ``rcx
run``'s flags and the TUI's execution form follow that one list."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from rcx.api.options import Option
from rcx.cli import build_parser, execution_settings
from rcx.exec.settings import EXECUTION_OPTIONS, ExecutionSettings


@pytest.fixture
def added_setting():
    """An option appended to the declaration for one test (and taken out again)."""
    new = Option("brand_new", int, None, "a setting added to the declaration", min=1)
    EXECUTION_OPTIONS.append(new)
    try:
        yield new
    finally:
        EXECUTION_OPTIONS.remove(new)


def _run_flags() -> dict[str, argparse.Action]:
    run = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
    return {flag: action for action in run._actions for flag in action.option_strings}


def test_the_settings_fields_are_the_declared_options():
    fields = dataclasses.fields(ExecutionSettings)
    assert [f.name for f in fields] == [o.name for o in EXECUTION_OPTIONS]
    assert [f.default for f in fields] == [o.default for o in EXECUTION_OPTIONS]
    assert ExecutionSettings.from_values({}) == ExecutionSettings()
    assert ExecutionSettings.from_values({"executor": "ray", "workers": None, "cpus_per_worker": 2.0}) == \
        ExecutionSettings("ray", cpus_per_worker=2.0)


def test_every_declared_option_is_a_run_flag():
    flags = _run_flags()
    for option in EXECUTION_OPTIONS:
        action = flags["--" + option.name.replace("_", "-")]
        assert (action.dest, action.type, action.default, action.help) == \
            (option.name, option.type, option.default, option.help)
        assert tuple(action.choices or ()) == option.choices
    args = build_parser().parse_args(["run", "p.toml", "--executor", "ray", "--gpus-per-worker", "0.5"])
    assert execution_settings(args) == ExecutionSettings("ray", gpus_per_worker=0.5)


def test_an_added_option_becomes_a_flag(added_setting):
    action = _run_flags()["--brand-new"]
    assert action.type is int and action.help == added_setting.help and action.metavar == "N"
    assert build_parser().parse_args(["run", "p.toml", "--brand-new", "3"]).brand_new == 3
