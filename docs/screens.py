"""Take the TUI tour's pictures (docs/getting-started/img/*.svg) from a real quickstart run.

    python docs/screens.py                 # runs the quickstart in a temporary folder first
    python docs/screens.py --db runs/quickstart.db

The app is driven through Textual's pilot at 100x30, each picture taken once the app says its
screen is settled (``RcxApp.is_settled``), and saved as Textual's SVG with its indentation
made smaller (:func:`minify`). Measured numbers such as throughput differ from
run to run, so the pictures are taken again by hand after a visible change of the TUI, not
checked by a test (the TUI's own snapshot tests in tests/tui check the screens).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "getting-started" / "img"
SIZE = (100, 30)


def minify(svg: str, prefix: str) -> str:
    """Textual's SVG, smaller, drawing the same: its long class prefix shortened to ``prefix``,
    the per-line clip paths dropped (text never overflows a cell row), runs of equal background
    cells merged into one rectangle, and the indentation removed."""
    old = re.search(r"terminal-\d+", svg)
    if old:
        svg = svg.replace(old.group(0), prefix)
    svg = re.sub(r' clip-path="url\(#[^)]*-line-\d+\)"', "", svg)
    svg = re.sub(r"<clipPath id=\"[^\"]*-line-\d+\">.*?</clipPath>", "", svg, flags=re.S)
    svg = svg.replace(' shape-rendering="crispEdges"', "")
    svg = svg.replace("<style>", "<style>\nrect { shape-rendering: crispEdges }", 1)
    svg = re.sub(r"(?:<rect fill=\"[^\"]*\" x=\"[\d.]+\" y=\"[\d.]+\" width=\"[\d.]+\" height=\"[\d.]+\"/>\s*)+",
                 lambda m: _merge_rects(m.group(0)), svg)
    return "\n".join(line.strip() for line in svg.splitlines() if line.strip()) + "\n"


def _merge_rects(block: str) -> str:
    """Adjacent background rectangles of one colour on one row as one rectangle."""
    rects = [(f, float(x), y, float(w), h) for f, x, y, w, h in
             re.findall(r'<rect fill="([^"]*)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/>', block)]
    merged: list[list] = []
    for f, x, y, w, h in rects:
        last = merged[-1] if merged else None
        if last and last[0] == f and last[2] == y and last[4] == h and abs(last[1] + last[3] - x) < 0.01:
            last[3] += w
        else:
            merged.append([f, x, y, w, h])
    return "".join(f'<rect fill="{f}" x="{x:g}" y="{y}" width="{round(w, 2):g}" height="{h}"/>'
                   for f, x, y, w, h in merged)


async def _wait(pilot, condition, tries: int = 600) -> None:
    for _ in range(tries):
        if condition():
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            if condition():
                return
        await pilot.pause(0.05)
    raise TimeoutError("the app did not settle")


async def shoot(db: Path, plan: Path) -> dict[str, str]:
    from rcx.plugins import get_registry
    from rcx.tui.app import RcxApp
    from rcx.tui.forms import PlanDraft

    shots: dict[str, str] = {}
    registry = get_registry()

    text = plan.read_text(encoding="utf-8")
    app = RcxApp(registry, draft=PlanDraft.from_toml(text, Path("examples/quickstart.toml")), plan_text=text)
    async with app.run_test(size=SIZE) as pilot:
        await _wait(pilot, app.is_settled)
        shots["plan"] = app.export_screenshot()

    app = RcxApp(registry, db_path=db)
    async with app.run_test(size=SIZE) as pilot:
        await _wait(pilot, app.is_settled)
        await pilot.press("f3")
        await _wait(pilot, app.is_settled)
        shots["run"] = app.export_screenshot()
        await pilot.press("f4")
        await _wait(pilot, app.is_settled)
        shots["results"] = app.export_screenshot()
        await pilot.press("enter")
        await _wait(pilot, lambda: app.is_settled() and getattr(app.screen, "shown", None) is not None)
        shots["detail"] = app.export_screenshot()
        await pilot.press("escape")
        await _wait(pilot, app.is_settled)
        await pilot.press("c")
        await _wait(pilot, app.is_settled)
        shots["correlation"] = app.export_screenshot()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="a finished quickstart results file (default: run the quickstart)")
    args = parser.parse_args(argv)
    plan = ROOT / "examples" / "quickstart.toml"
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path("runs/quickstart.db")  # as the quickstart writes it, relative to the folder it runs in
        (Path(tmp) / "runs").mkdir()
        if args.db is None:
            subprocess.run([sys.executable, "-m", "rcx", "run", "--headless", str(plan), "--db", str(Path(tmp) / db),
                            "-q", "--top", "0"], check=True)
        else:
            for suffix in ("", "-wal"):  # a copy: the app tidies the file it opens
                if Path(f"{args.db}{suffix}").exists():
                    shutil.copy(f"{args.db}{suffix}", Path(tmp) / f"{db}{suffix}")
        os.chdir(tmp)
        try:
            shots = asyncio.run(shoot(db, plan))
        finally:
            os.chdir(cwd)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, svg in shots.items():
        small = minify(svg, f"rcx-{name}")
        (OUT / f"{name}.svg").write_text(small, encoding="utf-8")
        print(OUT / f"{name}.svg", f"{len(small):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
