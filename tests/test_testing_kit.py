"""rcx.testing is installed as a pytest plugin, stays light to import, and its helpers work."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from rcx.api import ArchInfo
from rcx.testing import check_space, make_registry, plan_text

ROOT = Path(__file__).resolve().parents[1]


def test_it_is_a_pytest11_entry_point_of_rcx():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert declared == {"rcx": "rcx.testing"}
    installed = [ep for ep in metadata.entry_points(group="pytest11") if ep.dist and ep.dist.name == "rcx"]
    assert [ep.value for ep in installed] == ["rcx.testing"], "reinstall rcx: pip install -e ."


def test_importing_it_loads_no_torch():
    code = "import sys, rcx.testing; print(sorted(m for m in ('torch', 'torchvision', 'textual') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_rcx_strict_sets_strict_mode(rcx_strict):
    assert os.environ["RCX_STRICT_PLUGINS"] == "1"


def test_the_registry_fixture_has_rcx_and_the_installed_plugins(rcx_registry):
    assert "ksd" in rcx_registry.names("space") and "naswot" in rcx_registry.names("evaluator")
    assert rcx_registry.problems == []


def test_plan_text_is_a_valid_plan():
    from rcx.core.plan import parse_plan

    registry = make_registry()
    text = plan_text({"fast": {"evaluator": "ridge_rfm", "trials": 1, "train_size": 64, "val_size": 32}}, n=2, seed=5)
    plan = parse_plan(text, registry)
    assert (plan.space, plan.dataset, plan.seed, plan.sampler["n"]) == ("ksd", "synthetic", 5, 2)
    assert plan.evaluators[0].instance == "fast" and plan.evaluators[0].plugin == "ridge_rfm"
    with pytest.raises(ValueError, match="no TOML spelling"):
        plan_text({"x": {"v": float("nan")}})


def test_check_space_passes_builtins_and_catches_a_wrong_description(rcx_registry):
    ksd = rcx_registry.get("space", "ksd")(channels=4, layers=2)
    check_space(ksd, in_shape=(3, 16, 16))

    class Lies(type(ksd)):
        def describe(self, arch, in_shape):
            info = super().describe(arch, in_shape)
            return ArchInfo(**{**info.__dict__, "params": info.params + 1})

    with pytest.raises(AssertionError, match="parameters"):
        check_space(Lies(channels=4, layers=2), in_shape=(3, 16, 16))
