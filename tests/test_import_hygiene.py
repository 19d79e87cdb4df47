"""The headless path never imports the TUI libraries."""

import subprocess
import sys


def test_core_cli_plugins_do_not_import_textual():
    code = (
        "import sys, rcx.core.runner, rcx.core.plan, rcx.core.store, rcx.core.results, rcx.plugins, rcx.cli, "
        "rcx.progress\n"
        "from rcx.plugins import load_registry\n"
        "load_registry()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext', 'textual_plotext')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_headless_commands_do_not_import_textual(tmp_path):
    """`rcx validate/spaces` and `rcx` in a pipe run without loading the TUI."""
    code = (
        "import sys\n"
        "from rcx.cli import main\n"
        f"main(['validate', {str(tmp_path / 'missing.toml')!r}]); main(['spaces']); main([])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext', 'textual_plotext')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, stdin=subprocess.DEVNULL)
