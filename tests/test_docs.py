"""The documentation: generated reference pages cover every declaration, the site's files and
links hold together, and README.md stays a one-minute page that states CI's commands.

The generator runs here in-process (about a second); the full ``mkdocs build --strict`` is
the slow test at the end (and .ci/run builds the site).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_generator():
    spec = importlib.util.spec_from_file_location("rcx_docs_gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return gen.pages()


@pytest.fixture(scope="module")
def documented():
    return gen.load_documented_registry()


def _section(page: str, name: str) -> str:
    """The part of a reference page about one component (its heading to the next)."""
    match = re.search(rf"^## `{re.escape(name)}` .*?(?=^## |\Z)", page, re.S | re.M)
    assert match, f"no section for {name!r}"
    return match.group(0)


def test_every_builtin_and_repository_plugin_is_documented(documented):
    dists = {e.dist for kind in gen.KIND_PAGES for e in documented.all(kind)}
    assert dists == {"rcx", "rcx-naswot", "rcx-zerocost"}
    from rcx.plugins import get_registry

    installed = get_registry()  # what the entry points of this environment register
    for kind in gen.KIND_PAGES:
        ours = {e.name for e in installed.all(kind) if e.dist in dists}
        assert ours <= set(documented.names(kind)), f"{kind}: {ours - set(documented.names(kind))} not documented"
    assert {"ridge_rfm", "cvu", "naswot", "zico"} <= set(documented.names("evaluator"))


def test_reference_pages_hold_every_option_and_metric(pages, documented):
    for kind, (path, _) in gen.KIND_PAGES.items():
        page = pages[path]
        for entry in documented.all(kind):
            section = _section(page, entry.name)
            for option in entry.obj.options:
                assert f"| `{option.name}` | `{option.describe()}` |" in section, (entry.name, option.name)
            for metric in getattr(entry.obj, "metrics", None) or getattr(entry.obj, "subsets", ()):
                direction = "higher" if metric.higher_is_better else "lower"
                assert re.search(rf"\| `{re.escape(metric.name)}` \| [^|]* \| {direction} \|", section), \
                    (entry.name, metric.name)
            assert f"Provided by `{entry.dist}`" in section


def test_plan_page_holds_every_key_the_validator_accepts(pages):
    from rcx.core import plan
    from rcx.core.data_prep import COMMON_OPTIONS
    from rcx.core.samplers import SAMPLER_OPTIONS

    page = pages["reference/plan.md"]
    for option in [*plan.top_options("NAME"), *COMMON_OPTIONS, *SAMPLER_OPTIONS, *plan.STAGE_OPTIONS]:
        assert f"| `{option.name}` | `{option.describe()}` |" in page, option.name
    for table in ("dataset", "space", "sampler", "evaluators.NAME"):
        assert f"`[{table}]`" in page


def test_cli_page_holds_every_command_and_option(pages):
    from rcx.cli import build_parser

    page = pages["reference/cli.md"]

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    assert f"`{prefix} {name}`" in page, f"{prefix} {name}"
                    for sub_action in sub._actions:
                        for flag in sub_action.option_strings:
                            if flag not in ("-h", "--help"):
                                assert re.search(rf"`[^`]*{re.escape(flag)}\b", page), f"{prefix} {name} {flag}"
                    walk(sub, f"{prefix} {name}")

    walk(build_parser(), "rcx")
    assert "`rcx analyze proxies`" in page
    from rcx import exits

    epilog = build_parser().epilog or ""
    assert all(var in page.split("## Environment", 1)[1] for var in re.findall(r"RCX_\w+", epilog))
    codes = [v for k, v in vars(exits).items() if k.startswith("EXIT_")]
    stated = page.split("**Exit codes.**", 1)[1].split("\n", 1)[0]
    assert all(re.search(rf"\b{code} ", stated) for code in codes), stated


def test_generated_tables_have_whole_rows(pages):
    """A stray pipe in a help text would add a cell: every row has as many cells as its header."""
    for path, text in pages.items():
        if not path.startswith("reference/"):
            continue
        cells = None
        for line in text.splitlines():
            if not line.startswith("|"):
                cells = None
                continue
            parts = re.split(r"(?<!\\)\|", re.sub(r"`[^`]*`", "code", line))
            if cells is None:
                cells = len(parts)
            assert len(parts) == cells, (path, line)


def test_relink_points_repository_links_into_the_site():
    text = ("See [the science](../../SCIENCE.md#setup), [a page](../guide/plans.md), "
            "[a plan](../../examples/quickstart.toml),\n"
            "`[not a link](../../SCIENCE.md)` and [web](https://example.org).\n"
            "```python\nx = layers[0](../../SCIENCE.md)\n```\n")
    out = gen.relink(text, "docs/how-to/page.md", "how-to/page.md")
    assert "[the science](../science.md#setup)" in out
    assert "[a page](../guide/plans.md)" in out
    assert "a plan (`examples/quickstart.toml`)" in out
    assert "`[not a link](../../SCIENCE.md)`" in out and "[web](https://example.org)" in out
    assert "x = layers[0](../../SCIENCE.md)" in out  # code blocks stay as they are


def test_separate_lists_starts_lists_where_github_does():
    text = "Where rcx differs:\n- one\n- two\n  more\n\n```\ntext\n- not a list\n```\n## Head\n- item\n"
    out = gen.separate_lists(text)
    assert out == "Where rcx differs:\n\n- one\n- two\n  more\n\n```\ntext\n- not a list\n```\n## Head\n- item\n"


def test_included_pages_keep_their_files_text(pages):
    for page, source in gen.INCLUDED.items():
        text = (ROOT / source).read_text(encoding="utf-8")
        first_heading = next(line for line in text.splitlines() if line.startswith("# "))
        assert first_heading in pages[page]
    assert "](../index.md)" in pages["plugins/rcx-naswot.md"]  # its link to rcx's README


def test_science_is_split_into_pages_that_hold_all_of_it(pages):
    """SCIENCE.md is four site pages: every line of it (headings up to their level) is on exactly
    one, in order; each page starts with a level-1 heading; the first lists the others."""
    text = (ROOT / "SCIENCE.md").read_text(encoding="utf-8")
    split = ["science.md", *(p for p, _ in gen.PARTS["SCIENCE.md"])]
    bodies = [pages[p].split("-->\n\n", 1)[1] for p in split]
    assert all(b.startswith("# ") for b in bodies)
    assert all(f"]({p.removeprefix('science/')})" not in bodies[0] and f"]({p})" in bodies[0] for p in split[1:])
    first, listing = bodies[0].split("\n---\n\nSCIENCE.md continues on 3 more pages:", 1)
    assert listing.count("\n- [") == 3

    def lines(t: str) -> list[str]:  # headings at one level (the pages raise them), link targets and blanks left out
        return [re.sub(r"\]\([^)]*\)", "]()", re.sub(r"^#+ ", "# ", ln)) for ln in t.splitlines() if ln.strip()]

    assert [ln for b in [first, *bodies[1:]] for ln in lines(b)] == lines(gen.relink(text, "SCIENCE.md", "science.md"))
    assert [ln for b in bodies for ln in b.splitlines() if ln.startswith("<!-- rcx-table:")] == \
        [ln for ln in text.splitlines() if ln.startswith("<!-- rcx-table:")]


def test_split_parts_raises_headings_and_names_a_missing_one():
    text = "# A\nx\n## B\n### C\n```\n## not a heading\n```\n# D\n"
    assert gen.split_parts(text, [("b.md", "## B"), ("d.md", "# D")]) == \
        ["# A\nx\n", "# B\n## C\n```\n## not a heading\n```\n", "# D\n"]
    with pytest.raises(ValueError, match="d.md: no line starting with '# E'"):
        gen.split_parts(text, [("b.md", "## B"), ("d.md", "# E")])


def _nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return re.findall(r"^\s*- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", text, re.M)


def test_every_nav_page_exists(pages):
    nav = _nav_pages()
    assert len(nav) > 30
    missing = [p for p in nav if p not in pages and not (DOCS / p).is_file()]
    assert not missing, f"in mkdocs.yml's nav but neither in docs/ nor generated: {missing}"
    written = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert not written - set(nav), f"pages missing from the nav: {written - set(nav)}"


def test_every_included_file_exists():
    """``--8<-- "path"`` and ``--8<-- "path:section"`` name files (and sections) that exist."""
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r'^--8<-- "([^"]+)"$', page.read_text(encoding="utf-8"), re.M):
            path, _, section = target.partition(":")
            assert (ROOT / path).is_file(), f"{page}: includes {path}, which does not exist"
            if section:
                text = (ROOT / path).read_text(encoding="utf-8")
                assert f"--8<-- [start:{section}]" in text and f"--8<-- [end:{section}]" in text, (page, target)


def test_tour_pictures_exist_and_stay_small():
    tour = (DOCS / "getting-started" / "tui.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\((img/[\w-]+\.svg)\)", tour)
    assert len(pictures) >= 5
    for picture in pictures:
        path = DOCS / "getting-started" / picture
        assert path.is_file(), picture
        assert path.stat().st_size < 40_000, f"{picture}: {path.stat().st_size} bytes (python docs/screens.py minifies)"


def test_the_migration_note_is_true():
    """Each module the note says is gone is gone, the ones it says still exist exist, and each
    name it moves is in rcx.api's public names."""
    import rcx.api

    note = (DOCS / "migration.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`rcx\.[^|]*) \| ([^|]*) \| `from rcx\.api import", note, re.M)
    assert len(rows) == 8
    still = set(re.findall(r"`(rcx\.[\w.]+)`", note.split("still exist", 1)[0].rsplit("\n\n", 1)[1]))
    assert still == {"rcx.core.device", "rcx.nn.features"}
    for modules, names in rows:
        listed = re.findall(r"`(\w+)`", names)
        assert listed and set(listed) <= set(rcx.api.__all__), listed
        for module in re.findall(r"`(rcx\.[\w.]+)`", modules):
            assert (importlib.util.find_spec(module) is not None) == (module in still), module


def test_the_migration_note_lists_the_framework_moves():
    """The modules the second table says moved are gone, the internal modules they moved to
    exist, and every name it says is public is in rcx.api's public names."""
    import rcx.api

    note = (DOCS / "migration.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(rcx\.[\w.]+)` \| ([^|\n]*) \|$", note.split("out of the plugin folders", 1)[1], re.M)
    assert len(rows) >= 3
    for old, now in rows:
        assert importlib.util.find_spec(old) is None, old
        for module in re.findall(r"`(rcx\.[\w.]+)`", now):
            assert importlib.util.find_spec(module) is not None, module
        for names in re.findall(r"`from rcx\.api import ([^`]*)`", now):
            assert set(names.replace(" ", "").split(",")) <= set(rcx.api.__all__), names


def test_the_plugin_reference_names_every_public_api_name():
    import rcx.api

    page = (DOCS / "plugins" / "reference.md").read_text(encoding="utf-8")
    stable = page.split("The stable names", 1)[1].split("Versioning", 1)[0]
    assert [n for n in rcx.api.__all__ if f"`{n}`" not in stable] == []


def _doc_plans() -> list[tuple[str, str]]:
    """Every complete plan the hand-written pages show (a ``toml`` block with a ``[space]`` and
    an evaluator table), with its page."""
    plans = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"```toml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            if "[space]" in block and "[evaluators." in block and "--8<--" not in block:
                plans.append((str(page.relative_to(DOCS)), block))
    return plans


@pytest.mark.parametrize("page,text", _doc_plans(), ids=[f"{p}:{i}" for i, (p, _) in enumerate(_doc_plans())])
def test_the_plans_the_docs_show_validate(page, text, tmp_path, monkeypatch):
    """A plan a page shows passes ``rcx validate`` (the tutorial's with its example plugins)."""
    from rcx.core.plan import parse_plan
    from rcx.testing import make_registry

    if "optuna" in text:
        pytest.importorskip("optuna")
    examples = []
    for name in ("example_evaluator", "example_space", "example_dataset"):
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "plugins" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        examples.append(module)
    monkeypatch.chdir(tmp_path)
    parse_plan(text, make_registry(*examples), source=page)


@pytest.mark.slow
def test_the_tutorials_package_installs_and_registers(tmp_path):
    """The tutorial's package, as its page lays it out (its pyproject.toml block and the example
    files as modules), installs with pip, rcx lists its three components from it, and the
    tutorial's tests pass against the installed package."""
    tutorial = (DOCS / "plugins" / "tutorial.md").read_text(encoding="utf-8")
    pyproject = next(b for b in re.findall(r"```toml\n(.*?)```", tutorial, re.S) if "[project.entry-points.rcx]" in b)
    package = tmp_path / "rcx-example"
    (package / "rcx_example").mkdir(parents=True)
    (package / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (package / "rcx_example" / "__init__.py").write_text("", encoding="utf-8")
    for module in ("evaluator", "space", "dataset"):
        shutil.copy(ROOT / "examples" / "plugins" / f"example_{module}.py", package / "rcx_example" / f"{module}.py")
    site = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(package)], check=True, capture_output=True)
    env = {**_env(), "PYTHONPATH": f"{site}:{ROOT}", "RCX_STRICT_PLUGINS": "1"}
    listed = subprocess.run([sys.executable, "-m", "rcx", "plugins"], env=env, capture_output=True, text=True,
                            check=True)
    for name in ("mean_activation", "width_stack", "bright_dark"):
        line = next((row for row in listed.stdout.splitlines() if f" {name} " in row), "")
        assert "rcx-example" in line, f"{name} not listed from rcx-example:\n{listed.stdout}"

    # its tests: the tutorial's, less what it says to leave out for an installed package
    source = (ROOT / "examples" / "plugins" / "test_examples.py").read_text(encoding="utf-8")
    tests = source.split("[start:tests]\n", 1)[1].split("# --8<-- [end", 1)[0]
    tests = re.sub(r"^import example_\w+\n", "", tests, flags=re.M)
    tests = re.sub(r"@pytest.fixture\ndef rcx_plugins\(\):\n.*?\n\n", "", tests, flags=re.S)
    assert "example_" not in tests and "def test_" in tests
    (package / "tests").mkdir()
    (package / "tests" / "test_plugin.py").write_text(tests, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package,
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r"\b4 passed\b", run.stdout), run.stdout[-500:]


def test_screens_minify_keeps_the_drawing():
    """docs/screens.py's minify on a Textual SVG: the same characters at the same places, valid
    XML, the background cells merged, much smaller."""
    import xml.dom.minidom

    spec = importlib.util.spec_from_file_location("rcx_docs_screens", DOCS / "screens.py")
    screens = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screens)
    svg = next((ROOT / "tests" / "tui" / "__snapshots__").rglob("*.svg")).read_text(encoding="utf-8")
    svg = svg.replace("terminal-", "terminal-2388699340-")  # the snapshots drop the id export_screenshot writes
    small = screens.minify(svg, "rcx-test")
    xml.dom.minidom.parseString(small)

    def texts(s: str) -> list[tuple[str, str, str]]:
        return re.findall(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', s)

    assert texts(small) == texts(svg) and texts(svg)
    assert small.count("<rect") < svg.count("<rect") and len(small) < len(svg) / 2
    assert "terminal-" not in small


README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_is_a_one_minute_page():
    assert len(README.encode("utf-8")) < 10_000
    for link in re.findall(r"\]\((?!https?:)([^)#\s]+)", README):
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def test_readme_states_what_ci_runs():
    """.ci/run installs and tests as README says: each of its pip installs of this repository
    and its pytest runs appears in README's test command."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installs = re.findall(r'pip install -q (-e \S+)', ci)
    assert installs, "no install in .ci/run"
    for install in installs:
        assert f"pip install {install}" in README, f"README's test command lacks `pip install {install}`"
    assert "python -m pytest && python -m pytest -m slow" in README
    assert "mkdocs build --strict" in ci and "mkdocs build --strict" in README


def test_readme_says_what_the_install_costs():
    assert "https://download.pytorch.org/whl/cpu" in README
    assert re.search(r"5\.7 GB", README)


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    mkdocs = [sys.executable, "-m", "mkdocs"]
    result = subprocess.run([*mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, env={**_env(), "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "evaluators" / "index.html").is_file()
    shutil.rmtree(tmp_path / "site")


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
