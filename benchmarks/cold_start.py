"""Cold start of the commands that only read declarations or results files (issue 11, part 6).

Each command runs ``--repeats`` times (default 5) in a fresh interpreter; the figure is the
median wall time from spawning the process to its exit. The reference procedure, in the same
script run, on the same inputs: the same command with ``import torch`` first, which is what
every command paid before rcx's declarations loaded without torch. The ratio (reference /
rcx) is what the lazy imports save on this machine, load or not.

The TUI's first screen: a fresh interpreter imports what ``rcx`` with no arguments imports,
loads the plugins, starts the app headless at 120x40 and reports when the Plan screen has been
drawn once: the moment the screen starts mounting its sections below the first screenful
(``call_after_refresh`` in its ``on_mount``), wall time since the process was spawned; the
reference again imports torch first.

    python benchmarks/cold_start.py [--repeats 5] [--write]

``--write`` replaces the "Cold start" section of BENCHMARKS.md with the table printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' tiny plan

from tests.conftest import tiny_plan  # noqa: E402

SECTION = "## Cold start: commands without torch (`benchmarks/cold_start.py`)"


_COMMAND = """
import sys
{pre}
from rcx.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code
sys.exit(code or 0)
"""

_TUI = """
import asyncio, os, sys, time
{pre}
from rcx.plugins import get_registry
from rcx.tui.app import RcxApp
from rcx.tui.screens.plan import PlanScreen

t_spawn = float(sys.argv[1])


async def first_frame(self):
    # the Plan screen calls this right after its first drawing (call_after_refresh in on_mount)
    print(f"FIRST {{time.time() - t_spawn:.4f}} {{type(self).__name__}}", flush=True)
    os._exit(0)


PlanScreen._mount_rest = first_frame
app = RcxApp(get_registry())


async def main() -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        while True:
            await pilot.pause()


asyncio.run(main())
"""


def timed(code: str, args: list[str], cwd: Path) -> float:
    """Wall seconds from spawn to exit of ``python -c code args``; raises on a non-zero exit."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{args or code[:60]!r} failed: {proc.stderr[-2000:]}")
    return dt


def tui_first_frame(pre: str, cwd: Path) -> float:
    """Seconds from spawn to the Plan screen's first drawing (reported by the child)."""
    t_spawn = time.time()
    proc = subprocess.run([sys.executable, "-c", _TUI.format(pre=pre), repr(t_spawn)], cwd=cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    found = re.search(r"FIRST ([0-9.]+) PlanScreen", proc.stdout)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"TUI probe failed: {proc.stdout[-1000:]}{proc.stderr[-2000:]}")
    return float(found.group(1))


def median_of(fn, repeats: int) -> float:
    fn()  # warm the file cache; not counted
    return statistics.median(fn() for _ in range(repeats))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="replace the section in BENCHMARKS.md")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        db = cwd / "cold.db"
        plan = tiny_plan(cwd, n=8, trials=1, name="cold.toml", output=str(db))
        subprocess.run([sys.executable, "-m", "rcx", "run", "--headless", "-q", str(plan)], cwd=cwd, check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
        commands = {
            "rcx --help": ["--help"],
            "rcx results DB": ["results", str(db)],
            "rcx plugins": ["plugins"],
            "rcx spaces": ["spaces"],
            "rcx validate PLAN": ["validate", str(plan)],
        }
        rows = []
        for label, argv in commands.items():
            ours = median_of(lambda argv=argv: timed(_COMMAND.format(pre="", argv=argv), [], cwd), args.repeats)
            ref = median_of(lambda argv=argv: timed(_COMMAND.format(pre="import torch", argv=argv), [], cwd),
                            args.repeats)
            rows.append((label, ours, ref))
            print(f"{label:<22} {ours:6.2f} s   with torch first {ref:6.2f} s   ratio {ref / ours:4.1f}x", flush=True)
        ours = median_of(lambda: tui_first_frame("", cwd), args.repeats)
        ref = median_of(lambda: tui_first_frame("import torch", cwd), args.repeats)
        rows.append(("TUI: first screen", ours, ref))
        print(f"{'TUI: first screen':<22} {ours:6.2f} s   with torch first {ref:6.2f} s   ratio {ref / ours:4.1f}x")

    load = os.getloadavg()[0]
    table = [f"Median of {args.repeats} fresh interpreters per command (after one uncounted warm-up), wall time from "
             "spawn to exit (the TUI: to the Plan screen's first drawing, headless at 120x40). Reference, same "
             "script run and inputs: the same command with `import torch` first, what every command paid before "
             "issue 11. A results file of 8 `ksd` candidates scored by `ridge_rfm` (the tests' tiny plan); all "
             f"plugins installed (built-ins, rcx-naswot, rcx-zerocost). Machine: {platform.machine()}, "
             f"{os.cpu_count()} cores, "
             f"Python {platform.python_version()}, load average {load:.1f} at the end.",
             "", "| command | rcx | with torch first | ratio |", "|---|---|---|---|"]
    table += [f"| `{label}` | {ours:.2f} s | {ref:.2f} s | {ref / ours:.1f}x |" for label, ours, ref in rows]
    text = "\n".join(table)
    print()
    print(text)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        doc = path.read_text()
        block = f"{SECTION}\n\n{text}\n"
        if SECTION in doc:
            start = doc.index(SECTION)
            nxt = doc.find("\n## ", start + len(SECTION))
            doc = doc[:start] + block + (doc[nxt:] if nxt != -1 else "")
        else:
            doc = doc.rstrip("\n") + "\n\n" + block
        path.write_text(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
