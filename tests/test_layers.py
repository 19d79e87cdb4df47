"""The package's layers (issues 11 and 24): the import-linter contracts in pyproject.toml hold, the
checker does catch a broken layer, a core module that imports a built-in plugin and a plugin
package that imports more of rcx than ``rcx.api``, and ``rcx.api`` imports nothing of rcx
outside itself."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")
from importlinter.cli import lint_imports  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = sorted(p.parent for p in (ROOT / "plugins").glob("*/rcx_*/__init__.py"))  # plugins/rcx-x/rcx_x


def test_the_layer_contracts_hold(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    for package in PLUGIN_PACKAGES:  # this checkout's plugin packages, not an installed copy
        monkeypatch.syspath_prepend(str(package.parent))
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "6 kept, 0 broken" in out
    assert {"rcx_naswot", "rcx_zerocost"} <= {p.name for p in PLUGIN_PACKAGES}


def test_a_layer_upside_down_is_caught(tmp_path, capsys, monkeypatch):
    """The same checker reports a contract the package breaks (core imports api, so api cannot
    sit above core), and says which import breaks it."""
    monkeypatch.chdir(ROOT)
    config = tmp_path / "upside_down.toml"
    config.write_text('[tool.importlinter]\nroot_package = "rcx"\n\n[[tool.importlinter.contracts]]\n'
                      'name = "upside down"\ntype = "layers"\nlayers = ["rcx.api", "rcx.core"]\n')
    code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code != 0 and "BROKEN" in out and "rcx.core" in out


def _lint_copy(tmp_path: Path, planted: dict[str, str]) -> str:
    """Run the project's contracts (pyproject.toml) on a copy of rcx and its plugin packages with
    the ``planted`` files (path relative to the copy -> source) added; the checker's report.

    A subprocess, so the copy is analysed rather than the rcx this process has imported."""
    def skip(folder: str, names: list[str]) -> list[str]:  # caches, and the truth tables' data files
        return [n for n in names if n == "__pycache__" or (n == "data" and Path(folder).name == "truth")]

    for package in [ROOT / "rcx", *PLUGIN_PACKAGES]:
        shutil.copytree(package, tmp_path / package.name, ignore=skip)
    for path, source in planted.items():
        (tmp_path / path).write_text(source)
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def _broken(report: str) -> list[str]:
    """The names of the contracts the report says are broken."""
    lines = [" ".join(line.split()) for line in report.split("Contracts: ", 1)[0].splitlines()]
    joined = " ".join(lines)  # long contract names wrap
    return [c for c in _CONTRACT_NAMES if f"{c} BROKEN" in joined]


def _contract_names() -> list[str]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


_CONTRACT_NAMES = _contract_names()
REGISTRY_ONLY = "the run machinery and the interfaces reach the built-in plugins only through the registry"
API_ONLY = "plugins import only rcx.api of rcx"


def test_planted_imports_of_builtins_and_of_rcx_internals_are_caught(tmp_path):
    """A core module that imports a built-in space, a TUI module that imports a built-in dataset
    inside a function, and plugin modules that import rcx's core, ``rcx.api``'s submodules or
    rcx itself break the contracts; the same copy without them keeps every contract."""
    clean = _lint_copy(tmp_path / "clean", {})
    assert "6 kept, 0 broken" in clean, clean
    report = _lint_copy(tmp_path / "planted", {
        "rcx/core/planted.py": "from rcx.spaces.ksd import KsdSpace\n",
        "rcx/tui/planted.py": "def f():\n    from rcx.data import synthetic\n    return synthetic\n",
        "rcx_naswot/planted.py": "from rcx.api import Option\nfrom rcx.core.store import Store\n",
        "rcx_zerocost/planted.py": "from rcx.api.options import Option\n",
    })
    assert _broken(report) == [REGISTRY_ONLY, API_ONLY], report
    for planted in ("rcx.core.planted", "rcx.tui.planted", "rcx_naswot.planted", "rcx_zerocost.planted"):
        assert planted in report, planted
    assert "rcx.spaces.ksd" in report and "rcx.core.store" in report and "rcx.api.options" in report


def test_a_plugin_that_imports_rcx_itself_or_another_plugin_is_caught(tmp_path):
    report = _lint_copy(tmp_path, {"rcx_naswot/planted.py": "import rcx\nimport rcx_zerocost.proxies\n"})
    assert _broken(report) == [API_ONLY, "plugins do not import each other"], report


def _imported_rcx_modules(path: Path) -> set[str]:
    """Every ``rcx...`` module ``path`` imports, at any depth (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {f"rcx.{a.name}" for a in node.names} if node.module == "rcx" else {node.module}
    return {m for m in found if m == "rcx" or m.startswith("rcx.")}


def test_the_api_imports_nothing_else_of_rcx():
    files = sorted((ROOT / "rcx" / "api").glob("*.py"))
    assert len(files) >= 8
    outside = {f"{f.name}: {m}" for f in files for m in _imported_rcx_modules(f)
               if m != "rcx.api" and not m.startswith("rcx.api.")}
    assert not outside, sorted(outside)
