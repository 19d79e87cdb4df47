"""Run the GPU study plans (issue 19) on a lent GPU machine within one `run` call's time.

``benchmarks/gpu_studies.sh`` is the entry point (it installs what the machine lacks, as the
device check does, then runs this). Two modes:

``--prepare`` (here, with a package registry and ``../shared/data``): builds ``.devcheck-studies/``
(gitignored): ``wheels/`` (tomli), ``cifar10.tar.xz`` (every JPEG of ``cifar10-jpeg.zip``, 60,000,
in one solid xz stream: about 18 MiB where the zip is 59, because the small JPEGs share their
headers) and ``MANIFEST.json``; it checks that the folder and the tracked files fit the 64 MiB
that travel.

Otherwise (on the device): unpacks the images into ``--images`` (``/tmp/cifar10``) when a plan
reads that folder and it is absent, then for each plan in turn (by default :data:`PLANS`, the
training-free ones first): resumes its results file ``WORK/NAME.db`` from the committed archive
``studies/results/NAME.db.xz`` (``studies/study.py``'s ``pull``: never over a file that holds
more), runs ``python -m rcx run --headless PLAN --db WORK/NAME.db -q`` until it ends or the
budget's share runs out (then SIGINT: rcx stops after the current batch and keeps every finished
evaluation; a second SIGINT after ``--grace`` seconds stops it at once, a kill after 10 s more),
and stores the file, compacted and xz-compressed as ``studies/results`` holds it, as
``OUT/NAME.db.xz`` where it added evaluations (the `run` tool brings back at most 8 files of 16 MiB:
no plan starts once 8 are there). One line per plan:
evaluations by state before and after, seconds.

    python benchmarks/gpu_studies.py --prepare
    python benchmarks/gpu_studies.py [--budget S] [--device cuda|cpu] [--out DIR] [PLAN ...]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "studies")]
from study import compact, counts, pull  # noqa: E402  (studies/)

from devcheck_env import download, folder_mib  # noqa: E402  (benchmarks/)

DEST = ROOT / ".devcheck-studies"
IMAGES_TAR = "cifar10.tar.xz"
LIMIT_MIB = 64  # what travels: the tracked files and the carried paths together
# Training-free plans first (the fewest evaluations first, so that one finishes), then training.
PLANS = ["nb201_study_cvu_gpu", "nb_macro_study_gpu", "nb201_all_gpu", "nats_sss_study_gpu", "nb201_train_short_gpu",
         "seed004_small_gpu", "seed003_small_gpu", "seed003_small_k7_gpu", "nb201_train_long_gpu"]
OUT_LIMIT_MIB = 16  # the `run` tool brings back files of $OUT up to this size
OUT_MAX_FILES = 8  # ... and at most this many
MIN_SLICE_S = 30.0  # a plan is not started with less than this left
RESERVE_S = 20.0  # kept back from each slice for the stop and the compaction into OUT
KILL_AFTER_S = 10.0  # after the second SIGINT


# --- prepare (here) --------------------------------------------------------------------------

def images_tar(src: Path, out: Path) -> int:
    """Every file of the zip ``src`` into the solid ``out`` (tar, xz); returns their number."""
    part = out.with_name(out.name + ".part")
    n = 0
    with zipfile.ZipFile(src) as zin, tarfile.open(part, "w:xz", preset=6) as tout:
        for info in zin.infolist():
            if info.is_dir():
                continue
            data = zin.read(info)
            member = tarfile.TarInfo(info.filename)
            member.size, member.mtime, member.mode = len(data), 0, 0o644
            tout.addfile(member, io.BytesIO(data))
            n += 1
    part.replace(out)
    return n


def tracked_mib() -> float:
    """Size of the files git tracks (they travel with every call), MiB."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / f.decode()).stat().st_size for f in files if f and (ROOT / f.decode()).is_file()) / 2**20


def prepare(dest: Path = DEST) -> dict[str, object]:
    """Build ``dest`` (see the module docstring) and return its manifest."""
    from cifar_subset import zip_path  # benchmarks/

    wheels = dest / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    tomli = download("tomli", wheels)
    src = zip_path()
    if not src.exists():
        raise SystemExit(f"{src} not found: the GPU plans need every CIFAR-10 image (set RCX_CIFAR_ZIP)")
    t0 = time.monotonic()
    n = images_tar(src, dest / IMAGES_TAR)
    print(f"{IMAGES_TAR}: {n} files, {(dest / IMAGES_TAR).stat().st_size / 2**20:.1f} MiB "
          f"({time.monotonic() - t0:.0f} s)")
    manifest: dict[str, object] = {"created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                   "wheels": [tomli.name], "images": f"{n} files of {src.name}",
                                   "mib": round(folder_mib(dest), 1), "tracked_mib": round(tracked_mib(), 1)}
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = manifest["mib"] + manifest["tracked_mib"]  # type: ignore[operator]
    print(f"{dest.name}: {manifest['mib']} MiB + tracked files {manifest['tracked_mib']} MiB = {total:.1f} MiB "
          f"(limit {LIMIT_MIB})")
    if total >= LIMIT_MIB:
        raise SystemExit(f"{total:.1f} MiB would travel, over the {LIMIT_MIB} MiB limit")
    return manifest


# --- run (on the device) ---------------------------------------------------------------------

def resolve(plan: str) -> Path:
    """A plan path, or the name of one of examples/ (``nb201_study_cvu_gpu``)."""
    path = Path(plan)
    if path.suffix != ".toml":
        path = ROOT / "examples" / f"{plan}.toml"
    if not path.is_file():
        raise SystemExit(f"gpu_studies: no plan {path}")
    return path.resolve()


def plan_table(plan: Path) -> dict:
    with plan.open("rb") as fh:
        return tomllib.load(fh)


def results_name(table: dict, plan: Path) -> str:
    """``NAME`` of the plan's results file ``runs/NAME.db`` (its archive: studies/results/NAME.db.xz)."""
    output = table.get("output") or f"{plan.stem}.db"
    return Path(output).name.removesuffix(".db")


def with_device(plan: Path, table: dict, device: str | None, work: Path) -> Path:
    """The plan itself, or a copy in ``work`` whose top-level ``device`` is ``device``."""
    if device is None or table.get("device") == device:
        return plan
    text = plan.read_text()
    line = re.compile(r'^device\s*=\s*"[^"]*"[^\n]*$', re.M)
    first_table = re.search(r"^\[", text, re.M)
    head, tail = (text[:first_table.start()], text[first_table.start():]) if first_table else (text, "")
    head = line.sub(f'device = "{device}"', head, count=1) if line.search(head) else f'device = "{device}"\n' + head
    copy = work / "plans" / plan.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(head + tail)
    return copy


def expected(table: dict) -> int | None:
    """Evaluations the plan asks for when its sampler says how many candidates (else None)."""
    n = table.get("sampler", {}).get("n")
    return n * len(table.get("evaluators", {})) if isinstance(n, int) else None


def unpack_images(dest: Path, tar: Path) -> str:
    if (dest / "train").is_dir() and (dest / "test").is_dir():
        return f"{dest}: present"
    if not tar.is_file():
        raise SystemExit(f"gpu_studies: {dest} is absent and {tar} is not here (bash benchmarks/gpu_studies.sh "
                         "--prepare, then carry .devcheck-studies)")
    t0 = time.monotonic()
    part = dest.with_name(dest.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    with tarfile.open(tar, "r:xz") as t:
        t.extractall(part, filter="data")
    part.replace(dest)
    return f"{dest}: unpacked {tar.name} in {time.monotonic() - t0:.0f} s"


def run_slice(cmd: list[str], seconds: float, grace: float) -> tuple[int, str]:
    """Run ``cmd`` for at most ``seconds``, then stop it (SIGINT, SIGINT after ``grace``, kill)."""
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        return proc.wait(timeout=max(seconds, 0.0)), "done"
    except subprocess.TimeoutExpired:
        pass
    except KeyboardInterrupt:  # this script was interrupted: let rcx stop too, then pass it on
        proc.send_signal(signal.SIGINT)
        proc.wait()
        raise
    proc.send_signal(signal.SIGINT)  # rcx: stop after the current batch
    try:
        return proc.wait(timeout=grace), "stopped"
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # rcx: stop now (the running evaluation is dropped)
    try:
        return proc.wait(timeout=KILL_AFTER_S), "interrupted"
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(), "killed"


def fmt(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"


def run_plans(plans: list[Path], *, budget: float, device: str | None, out: Path, work: Path, images: Path,
              archives: Path, threads: str, grace: float) -> int:
    start = time.monotonic()
    end = start + budget
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    tables = [plan_table(p) for p in plans]
    if any(Path(str(t.get("dataset", {}).get("root", ""))) == images for t in tables):
        print(unpack_images(images, DEST / IMAGES_TAR), flush=True)
    failed = 0
    for plan, table in zip(plans, tables, strict=True):
        name = results_name(table, plan)
        left = end - time.monotonic()
        if left < MIN_SLICE_S + RESERVE_S + grace:
            print(f"{name}: skipped ({left:.0f} s left)", flush=True)
            continue
        if sum(1 for f in out.iterdir() if f.is_file()) >= OUT_MAX_FILES:
            print(f"{name}: skipped ({OUT_MAX_FILES} files in {out} already, as many as come back)", flush=True)
            continue
        db = work / f"{name}.db"
        note = pull(name, work, archives)
        before = counts(db) if db.exists() else {}
        cmd = [sys.executable, "-m", "rcx", "run", "--headless", str(with_device(plan, table, device, work)),
               "--db", str(db), "--threads", threads, "-q"]
        t0 = time.monotonic()
        rc, how = run_slice(cmd, left - RESERVE_S - grace, grace)
        seconds = time.monotonic() - t0
        after = counts(db) if db.exists() else {}
        if db.exists() and after == before:
            note += "; nothing new, so no file in OUT"  # the archive it resumed from holds the same rows
        elif db.exists():
            compact(db, out / f"{name}.db.xz", preset=6)
            mib = (out / f"{name}.db.xz").stat().st_size / 2**20
            if mib > OUT_LIMIT_MIB:
                print(f"{name}: warning: {name}.db.xz is {mib:.1f} MiB, over the {OUT_LIMIT_MIB} MiB a file of $OUT "
                      f"may have to come back", flush=True)
        total = expected(table)
        done = after.get("done", 0)
        failed += how == "done" and rc != 0
        print(f"{name}: {how} (rc {rc}) in {seconds:.0f} s; done {done}/{total if total else '?'}, "
              f"+{done - before.get('done', 0)} this call; before: {fmt(before)}; after: {fmt(after)}; "
              f"[{note}]", flush=True)
    print(f"gpu_studies: {time.monotonic() - start:.0f} s of {budget:.0f}; results in {out}/NAME.db.xz", flush=True)
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plans", nargs="*", help=f"plan files or names in examples/ (default: {' '.join(PLANS)})")
    ap.add_argument("--prepare", action="store_true", help="build .devcheck-studies/ here")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for all plans (default 480)")
    ap.add_argument("--device", choices=["cuda", "cpu"], help="run the plans on this device (default: the plans')")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or DEST / "out"),
                    help="where NAME.db.xz go (default $OUT, else .devcheck-studies/out)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rcx-gpu-studies",
                    help="where the live results files NAME.db are")
    ap.add_argument("--images", type=Path, default=Path("/tmp/cifar10"), help="the plans' image folder")
    ap.add_argument("--archives", type=Path, default=ROOT / "studies" / "results",
                    help="the committed archives NAME.db.xz to resume from")
    ap.add_argument("--threads", default="auto", help="rcx run --threads (default auto)")
    ap.add_argument("--grace", type=float, default=30.0, help="seconds rcx gets to finish its batch when stopped")
    args = ap.parse_args()
    if args.prepare:
        prepare()
        return 0
    plans = [resolve(p) for p in (args.plans or PLANS)]
    return run_plans(plans, budget=args.budget, device=args.device, out=args.out.resolve(), work=args.work.resolve(),
                     images=args.images, archives=args.archives, threads=args.threads, grace=args.grace)


if __name__ == "__main__":
    sys.exit(main())
