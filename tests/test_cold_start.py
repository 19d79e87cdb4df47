"""Cold start (issue 11, part 6): the commands that only read declarations or results files
import no torch. Each runs in a fresh interpreter, which reports the heavy modules it loaded;
how long they take is measured in benchmarks/cold_start.py, never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.analysis_store import hand_store
from tests.conftest import tiny_plan

HEAVY = ("torch", "torchvision")

_PROBE = """
import json, sys
from rcx.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:  # argparse's --help
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print("PROBE " + json.dumps({{"code": code, "heavy": heavy[:5]}}))
"""


def probe(argv: list[str], cwd: Path) -> dict:
    """Run ``rcx argv`` in a new interpreter; its exit code and the heavy modules it imported."""
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv, heavy=HEAVY)], cwd=cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, proc.stdout + proc.stderr
    return json.loads(lines[-1][len("PROBE "):])


@pytest.mark.parametrize("argv",
                         [["--help"], ["plugins"], ["plugins", "-v"], ["spaces"], ["analyze", "corr", "--help"]],
                         ids=["help", "plugins", "plugins-verbose", "spaces", "analyze-help"])
def test_declaration_commands_import_no_torch(argv, tmp_path):
    result = probe(argv, tmp_path)
    assert result == {"code": 0, "heavy": []}


def test_validate_imports_no_torch(tmp_path):
    plan = tiny_plan(tmp_path)
    assert probe(["validate", str(plan)], tmp_path) == {"code": 0, "heavy": []}
    bad = tmp_path / "bad.toml"
    bad.write_text(plan.read_text().replace("channels = 8", "channels = 0"))
    assert probe(["validate", str(bad)], tmp_path) == {"code": 2, "heavy": []}


def test_results_imports_no_torch(tmp_path):
    db = hand_store(tmp_path / "h.db", [{"arch": f"a{i}", "proxy": i / 10, "truth": (i % 3) / 9} for i in range(6)])
    assert probe(["results", str(db)], tmp_path) == {"code": 0, "heavy": []}
    assert probe(["results", str(db), "--format", "json"], tmp_path) == {"code": 0, "heavy": []}


def test_the_probe_sees_torch_when_a_command_loads_it(tmp_path):
    """The check can fail: a run imports torch, and the probe reports it."""
    plan = tiny_plan(tmp_path, n=1, trials=1)
    result = probe(["run", "--headless", "-q", str(plan)], tmp_path)
    assert result["code"] == 0 and "torch" in result["heavy"]


_TUI_PROBE = """
import asyncio, json, sys
from rcx.plugins import get_registry
from rcx.tui.app import RcxApp
from rcx.tui.screens.plan import PlanScreen

seen = {}
list_devices = RcxApp._list_devices


def recording(self):
    # called after the first frame: what the app imported to get there, then the real worker
    seen["first_frame"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))[:5]
    seen["screen"] = type(self.screen).__name__
    return list_devices(self)


RcxApp._list_devices = recording
app = RcxApp(get_registry())


async def main():
    async with app.run_test(size=(100, 30)) as pilot:
        while "first_frame" not in seen or not app.is_settled():
            await pilot.pause()
        seen["after_worker"] = sorted(m for m in sys.modules if m.split(".")[0] == "torch")[:1]
    print("PROBE " + json.dumps(seen))


asyncio.run(main())
"""


def test_the_tui_draws_its_first_screen_without_torch(tmp_path):
    """Everything up to the Plan screen's first frame (plugins, app, generated forms, space size)
    needs no torch; the CUDA devices are listed by a worker after it, which does import torch."""
    proc = subprocess.run([sys.executable, "-c", _TUI_PROBE], cwd=tmp_path, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, proc.stdout + proc.stderr
    seen = json.loads(lines[-1][len("PROBE "):])
    assert seen == {"first_frame": [], "screen": "PlanScreen", "after_worker": ["torch"]}
