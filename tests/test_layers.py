"""The package's layers (issue 11): the import-linter contracts in pyproject.toml hold, the
checker does catch a broken layer, and ``rcx.api`` imports nothing of rcx outside itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("importlinter")
from importlinter.cli import lint_imports  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_the_layer_contracts_hold(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 kept, 0 broken" in out


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
