"""Keep the studies' results files in the repository, resume them, regenerate SCIENCE.md's tables.

A study is a set of plans (``examples/*_study*.toml``, ``studies/plans/*.toml``) whose results
files (``runs/NAME.db``, the plan's ``output``) are kept here compacted and xz-compressed as
``studies/results/NAME.db.xz``. A stopped study resumes from them: ``pull`` puts each archive
back in ``runs/``, ``rcx run`` skips every finished evaluation, ``push`` stores the grown file.

    python studies/study.py status                  # what each archive holds
    python studies/study.py pull [NAME ...]         # archives -> runs/NAME.db (never overwrites newer work)
    python studies/study.py push [NAME ...]         # runs/NAME.db -> studies/results/NAME.db.xz
    python studies/study.py run PLAN [--every MIN]  # pull, rcx run --headless (one thread), push as it grows
    python studies/study.py tables [--check] [FILE.md ...]   # regenerate the marked tables (SCIENCE.md)

Tables: a block in a markdown file between ``<!-- rcx-table: ARGS -->`` and ``<!-- /rcx-table -->``
is the output of ``rcx ARGS`` (an ``analyze`` command; or ``python studies/SCRIPT.py ...``) with
``--format csv``, rendered as a markdown table; ``--check``
exits 1 when a block differs from what the archives give (tests/test_studies.py runs it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import lzma
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVES = ROOT / "studies" / "results"
RUNS = ROOT / "runs"


def archive_path(name: str) -> Path:
    """The committed archive of results file ``runs/NAME.db``."""
    return ARCHIVES / f"{name}.db.xz"


def plan_output(plan: Path) -> Path:
    """The results file a plan writes (its ``output``, relative to the project root)."""
    with plan.open("rb") as fh:
        output = tomllib.load(fh).get("output")
    if not output:
        raise SystemExit(f"{plan}: the plan has no output; a study plan names its results file")
    return (ROOT / output) if not Path(output).is_absolute() else Path(output)


def counts(db: Path) -> dict[str, int]:
    """Evaluations per status in a results file (all runs), read-only."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT state, count(*) FROM evaluations GROUP BY state").fetchall()
    finally:
        con.close()
    return dict(rows)


def compact(db: Path, dest: Path, preset: int = 9 | lzma.PRESET_EXTREME) -> None:
    """A consistent, vacuumed copy of a (possibly live, WAL-mode) results file, xz-compressed
    (``preset``: the archives' default is the smallest, slowest one)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.db"
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            con.execute("VACUUM INTO ?", (str(copy),))
        finally:
            con.close()
        fixed = sqlite3.connect(copy)
        fixed.execute("PRAGMA journal_mode=DELETE")
        fixed.close()
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_suffix(".xz.part")
        with copy.open("rb") as src, lzma.open(part, "wb", preset=preset) as out:
            shutil.copyfileobj(src, out)
        part.replace(dest)


@contextlib.contextmanager
def unpacked(archive: Path) -> Iterator[Path]:
    """A temporary, decompressed copy of ``archive`` (``NAME.db.xz``), removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "a.db"
        with lzma.open(archive) as fh, probe.open("wb") as out:
            shutil.copyfileobj(fh, out)
        yield probe


def pull(name: str, runs: Path = RUNS, archives: Path | None = None) -> str:
    """Unpack one archive (``archives/NAME.db.xz``, by default the committed one) into ``runs/``
    unless the results file there holds as much or more."""
    src = archive_path(name) if archives is None else archives / f"{name}.db.xz"
    db = runs / f"{name}.db"
    if not src.exists():
        return f"{name}: no archive"
    if db.exists():
        have = sum(counts(db).values())
        with unpacked(src) as probe:
            stored = sum(counts(probe).values())
        if have >= stored:
            return f"{name}: {db} already holds {have} evaluations (archive {stored}); kept"
    runs.mkdir(parents=True, exist_ok=True)
    part = db.with_suffix(".db.part")
    with lzma.open(src) as fh, part.open("wb") as out:
        shutil.copyfileobj(fh, out)
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    part.replace(db)
    return f"{name}: unpacked {sum(counts(db).values())} evaluations into {db}"


def content(db: Path) -> str:
    """A digest of a results file's rows and schema (SQL dump), blind to the file's header
    counters, page layout and WAL state, which change when a file is merely opened or vacuumed."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        for line in con.iterdump():
            digest.update(line.encode())
            digest.update(b"\n")
        return digest.hexdigest()
    finally:
        con.close()


def archived_content(archive: Path) -> str | None:
    """:func:`content` of an archive (``NAME.db.xz``), or None where there is none."""
    if not archive.exists():
        return None
    with unpacked(archive) as probe:
        return content(probe)


def push(name: str, runs: Path = RUNS) -> str:
    """Store ``runs/NAME.db`` as its archive (compacted, xz), unless the archive already holds
    the same rows: an unchanged study keeps its archive's bytes, so git sees no change."""
    db = runs / f"{name}.db"
    if not db.exists():
        return f"{name}: no runs/{name}.db"
    if archived_content(archive_path(name)) == content(db):
        return f"{name}: {counts(db)} unchanged; {os.path.relpath(archive_path(name), ROOT)} kept"
    compact(db, archive_path(name))
    size = archive_path(name).stat().st_size
    return f"{name}: {counts(db)} -> {os.path.relpath(archive_path(name), ROOT)} ({size / 1024:.0f} KiB)"


def names(given: list[str]) -> list[str]:
    if given:
        return [Path(n).name.removesuffix(".db.xz").removesuffix(".db") for n in given]
    return sorted(p.name.removesuffix(".db.xz") for p in ARCHIVES.glob("*.db.xz"))


def run(plan: Path, every_min: float, extra: list[str]) -> int:
    """Resume a study plan from its archive, run it, and push the archive every few minutes."""
    db = plan_output(plan)
    name = db.name.removesuffix(".db")
    print(pull(name, db.parent), flush=True)
    cmd = [sys.executable, "-m", "rcx", "run", "--headless", str(plan), "--db", str(db), "--threads", "1", "-q", *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    last = time.monotonic()
    while proc.poll() is None:
        time.sleep(5)
        if time.monotonic() - last >= every_min * 60 and db.exists():
            print(push(name, db.parent), flush=True)
            last = time.monotonic()
    if db.exists():
        print(push(name, db.parent), flush=True)
    return proc.returncode


# --- tables -------------------------------------------------------------------------------

OPEN, CLOSE = "<!-- rcx-table:", "<!-- /rcx-table -->"


def _cell(value: str, signed: bool = False) -> str:
    """One CSV value as the tables print it: integers with thousands separators, floats to 3 places."""
    if value in ("", "nan", "None"):
        return ""
    if value in ("True", "False"):
        return "higher" if value == "True" else "lower"
    try:
        number = float(value)
    except ValueError:
        return value.replace("|", "\\|")  # a pipe (NAS-Bench-201 ids) would end the markdown cell
    if number.is_integer() and abs(number) >= 1000 or re.fullmatch(r"-?\d+", value):
        return f"{int(number):,}"
    return f"{number:+.3f}" if signed else f"{number:.3f}"


def markdown(header: list[str], rows: list[list[str]], published: dict[str, str]) -> str:
    """A CSV of ``rcx analyze`` as a markdown table.

    Columns ``X``, ``X_lo``, ``X_hi`` become one "X [lo, hi]" column; ``X`` and ``X_std`` (e.g.
    ``select_mean``/``select_std``, ``kendall``/``kendall_std``) become "mean ± std"; ``published``
    (first column's value -> text) adds a column.
    """
    cols: list[tuple[str, list[int]]] = []
    for i, name in enumerate(header):
        if name.endswith(("_lo", "_hi", "_std")) and name.rsplit("_", 1)[0] in header:
            continue
        if name == "select_std":
            continue
        parts = [i]
        for side in ("_lo", "_hi"):
            if name + side in header:
                parts.append(header.index(name + side))
        if name == "select_mean" and "select_std" in header:
            parts.append(header.index("select_std"))
        elif len(parts) == 1 and name + "_std" in header:
            parts.append(header.index(name + "_std"))
        cols.append((name, parts))
    titles = [n.replace("_", " ") + (" [95 % CI]" if len(p) == 3 else "") for n, p in cols]
    if published:
        titles.append("published")
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for row in rows:
        cells = []
        for name, parts in cols:
            signed = name.startswith("vs_")
            if len(parts) == 3 and row[parts[0]] not in ("", "nan"):
                lo, hi = (_cell(row[j], signed) for j in parts[1:])
                cells.append(f"{_cell(row[parts[0]], signed)} [{lo}, {hi}]")
            elif len(parts) == 2 and row[parts[0]] not in ("", "nan"):
                digits = 2 if name == "select_mean" else 3  # accuracy in %, or a coefficient
                cells.append(f"{float(row[parts[0]]):.{digits}f} ± {float(row[parts[1]]):.{digits}f}")
            elif (name.endswith("_p") or name.startswith("p_")) and row[parts[0]] not in ("", "nan"):
                cells.append(f"{float(row[parts[0]]):.2g}")  # a p-value: 1e-20 must not read 0.000
            else:
                cells.append(_cell(row[parts[0]], signed))
        if published:
            cells.append(published.get(row[0], ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PUBLISHED = ROOT / "studies" / "published.toml"
RUNS_PATH = re.compile(r"(?:^|(?<=[,@=]))runs/")
"""A ``runs/`` path in a table's arguments: a whole argument, or one after ``,``, ``@`` or ``=``
(``--pair runs/a.db,runs/b.db@nb201:cifar10``)."""


def render(args: str, runs: Path = RUNS) -> str:
    """Run ``rcx ARGS --format csv`` from the project root and render its CSV as a markdown table.

    ``ARGS`` may end with ``; published=KEY``: the column of published figures is then read from
    ``studies/published.toml``'s table KEY (row name -> text).
    """
    import csv
    import io
    import shlex

    args, _, option = args.partition(";")
    published: dict[str, str] = {}
    if option.strip().startswith("published="):
        with PUBLISHED.open("rb") as fh:
            published = tomllib.load(fh)[option.strip().removeprefix("published=")]
    argv = [RUNS_PATH.sub(lambda _: f"{runs}/", a) for a in shlex.split(args)]
    cmd = [sys.executable, *argv[1:]] if argv[0] == "python" else [sys.executable, "-m", "rcx", *argv]
    out = subprocess.run([*cmd, "--format", "csv"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"rcx {args}: exit {out.returncode}\n{out.stderr}")
    rows = list(csv.reader(io.StringIO(out.stdout)))
    if not rows:
        return ""
    return markdown(rows[0], rows[1:], published)


def regenerate(text: str, runs: Path = RUNS, workers: int | None = None, only: tuple[str, ...] = ()) -> str:
    """Every marked block of a markdown text replaced by its command's current table (with
    ``only``: the blocks whose command contains one of those strings; the others stay as they
    are); the commands run ``workers`` at a time (default: one per core), each a process of its
    own."""
    from concurrent.futures import ThreadPoolExecutor

    kept, commands, old, pos = [], [], [], 0
    while (start := text.find(OPEN, pos)) != -1:
        head_end = text.index("-->", start) + 3
        end = text.index(CLOSE, head_end)
        kept.append(text[pos:head_end])
        commands.append(text[start + len(OPEN) : head_end - 3].strip())
        old.append(text[head_end:end])
        pos = end
    wanted = [not only or any(o in args for o in only) for args in commands]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        fresh = list(pool.map(lambda args: render(args, runs), [a for a, w in zip(commands, wanted) if w]))
    it = iter(fresh)
    tables = ["\n" + next(it) + "\n" if w else body for body, w in zip(old, wanted)]
    out = [part for head, table in zip(kept, tables) for part in (head, table)]
    out.append(text[pos:])
    return "".join(out)


def tables(files: list[Path], check: bool, only: tuple[str, ...] = ()) -> int:
    """Regenerate (or, with ``check``, compare) the marked tables from the committed archives only
    (with ``only``: the tables whose command contains one of those strings).

    The archives are unpacked into a temporary folder, so neither ``runs/`` nor work in progress
    there changes what the tables say.
    """
    stale = 0
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for name in names([]):
            print(pull(name, runs), file=sys.stderr)
        for md in files:
            old = md.read_text()
            new = regenerate(old, runs, only=only)
            shown = os.path.relpath(md, ROOT)
            if new == old:
                print(f"{shown}: tables up to date", file=sys.stderr)
            elif check:
                print(f"{shown}: tables differ from the archives' (run without --check to update)")
                stale += 1
            else:
                md.write_text(new)
                print(f"{shown}: tables regenerated", file=sys.stderr)
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="study.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status")
    for cmd in ("pull", "push"):
        sub.add_parser(cmd).add_argument("names", nargs="*")
    r = sub.add_parser("run")
    r.add_argument("plan", type=Path)
    r.add_argument("--every", type=float, default=10.0, help="minutes between pushes")
    t = sub.add_parser("tables")
    t.add_argument("--check", action="store_true")
    t.add_argument("--only", action="append", default=[], metavar="TEXT",
                   help="only the tables whose command contains TEXT (repeatable), e.g. seed003_small.db")
    t.add_argument("files", nargs="*", type=Path)
    a, extra = p.parse_known_args(argv)
    os.chdir(ROOT)
    if a.cmd == "status":
        for name in names([]):
            print(f"{name}: {archive_path(name).stat().st_size / 1024:.0f} KiB")
        return 0
    if a.cmd in ("pull", "push"):
        fn = pull if a.cmd == "pull" else push
        for name in names(a.names):
            print(fn(name))
        return 0
    if a.cmd == "run":
        return run(a.plan.resolve(), a.every, extra)
    return tables([f.resolve() for f in a.files] or [ROOT / "SCIENCE.md"], a.check, tuple(a.only))


if __name__ == "__main__":
    sys.exit(main())
