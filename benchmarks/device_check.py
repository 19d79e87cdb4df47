"""The device check: on a machine with a CUDA GPU, in at most 8 minutes, everything rcx does there.

Parts, each in its own subprocesses and time limit, so one that fails or hangs never stops
the others (the summary marks it FAIL with a one-line reason):

- ``setup``: Python, torch, CUDA, the GPUs, Ray, the CPUs; a matrix product on the device;
- ``pytest-gpu``: ``pytest -m gpu`` on the test files that hold GPU tests;
- ``ksd-sweep``: a ridge-RFM sweep of 1,000 ``ksd`` architectures (seed 001's nets: 3 conv
  layers x 32 channels at 3x96x96, 500 + 500 synthetic images, 1 trial) in-process, then on
  Ray with 4 workers at 0.25 GPU each: sweep rates and their ratio (target: Ray >= 2x), and
  whether both runs recorded the same accuracies;
- ``ray-overhead``: ``ray_overhead.py``, Ray's cost per evaluation of an evaluator that does
  no work (target: <= 5 ms);
- ``ridge``, ``cvu``, ``train``: ``ridge_rfm.py``, ``cvu.py``, ``train.py`` with rcx on the
  device (their reference procedures as those scripts define them);
- ``scores``: ``all_scores.py --settings "exact"``: every training-free score of the
  NAS-Bench-201 study (NASWOT, the ridge pair, the eight zero-cost proxies) on NB201 cells on
  the device, wall seconds per cell and the time all 15,625 cells would take (target: < 10 min).

It prints one summary table and writes ``device_check.json``, ``device_check.md`` (a section
for BENCHMARKS.md) and ``device_check.log`` (every command's output) into ``--out``
(default ``$OUT`` when set, else ``.devcheck/out``).

    bash benchmarks/device_check.sh --prepare            # here, once: builds .devcheck/
    bash benchmarks/device_check.sh [--device cuda|cpu] [--quick] [--only PART,...] [--budget S]

``--quick`` shrinks every part to seconds (``--device cpu --quick`` runs without a GPU: the
test suite runs it). DEVELOPERS.md says how to run it on the GPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from devcheck_report import PartResult, one_line, summary_table, write_reports  # noqa: E402  benchmarks/
from sweep_timing import ROOT, SweepTiming, child_env, executor_args, ratio, run_sweep  # noqa: E402

PARTS = ("setup", "pytest-gpu", "scores", "ridge", "cvu", "train", "ray-overhead", "ksd-sweep")
"""In the order they run: the budget may cut the last ones, so the figures never measured on a
GPU (all scores, issue 21; the evaluators' paths) come before the Ray sweep, which takes the
longest part limit and whose in-process rate the others do not need."""
SCORES_TARGET_MIN = 10.0  # all 15,625 NB201 cells, every training-free score (issue 21)
SWEEP_TARGET = 2.0  # Ray 4 x 0.25 GPU over in-process, sweep rate (issue 10)
OVERHEAD_TARGET_MS = 5.0


@dataclass(frozen=True)
class Profile:
    """Sizes and time limits (seconds) of the parts. ``FULL`` fits 8 minutes on one GPU with
    the Ray wheels' install; ``QUICK`` is for a CPU and the test suite."""

    sweep_archs: int
    sweep_image: int
    sweep_images: int  # training and validation images each
    sweep_channels: int
    sweep_trials: int
    overhead_evals: int
    ridge: tuple[str, ...]
    cvu: tuple[str, ...]
    train: tuple[str, ...]
    scores: tuple[str, ...] = ()
    limits: dict[str, float] = field(default_factory=dict)
    budget: float = 450.0


FULL = Profile(
    sweep_archs=1000, sweep_image=96, sweep_images=500, sweep_channels=32, sweep_trials=1, overhead_evals=1000,
    ridge=("--archs", "6", "--trials", "1,5"),
    cvu=("--archs", "10", "--inits", "100", "--batch", "256"),
    train=("--model", "resnet_lc-20-16-k3", "--train", "2000", "--epochs", "2", "--rounds", "2"),
    scores=("--archs", "20", "--threads", "0"),
    limits={"setup": 60, "pytest-gpu": 120, "ksd-sweep": 230, "ray-overhead": 90, "ridge": 90, "scores": 90,
            "cvu": 75, "train": 75},
    budget=480.0,
)
QUICK = Profile(
    sweep_archs=6, sweep_image=16, sweep_images=60, sweep_channels=4, sweep_trials=1, overhead_evals=20,
    ridge=("--archs", "1", "--trials", "1", "--per-class", "10", "--resize", "32"),
    cvu=("--archs", "2", "--inits", "2", "--batch", "16"),
    train=("--model", "resnet_lc-8-8-k3", "--train", "100", "--epochs", "1", "--rounds", "1", "--batch", "50",
           "--threads", "1"),
    scores=("--archs", "1", "--threads", "1", "--images", "40", "--channels", "4", "--cells", "1"),
    limits={"setup": 120, "pytest-gpu": 300, "ksd-sweep": 300, "ray-overhead": 240, "ridge": 240, "scores": 240,
            "cvu": 180, "train": 180},
    budget=1500.0,
)


@dataclass
class Context:
    """What every part gets: the options, the sizes, where to log, and the overall deadline."""

    device: str
    quick: bool
    profile: Profile
    log: Path
    tmp: Path
    deadline: float  # time.monotonic() after which no part starts
    env: dict[str, str]
    found: dict[str, Any] = field(default_factory=dict)  # facts a part learnt for the report (GPU name...)

    def limit(self, part: str) -> float:
        return max(1.0, min(self.profile.limits.get(part, 60.0), self.deadline - time.monotonic()))


@dataclass
class Outcome:
    """What a part function returns; the runner adds the name and the time."""

    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    target: str = ""


def call(ctx: Context, cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str, bool]:
    """Run ``cmd`` from the repository root; ``(exit code, output, timed out)``. Output (stdout
    and stderr together) is also appended to the log. A command over its time is killed."""
    with open(ctx.log, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env or ctx.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        rc, out, timed_out = proc.returncode, proc.stdout, False
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rc, timed_out = -9, True
    with open(ctx.log, "a") as log:
        log.write(out + (f"\n[stopped at its {timeout:.0f} s limit]\n" if timed_out else ""))
    return rc, out, timed_out


def failure(rc: int, out: str, timed_out: bool, timeout: float) -> str:
    """One line saying why a command failed: its time limit, or the last line it printed."""
    if timed_out:
        return f"stopped at its {timeout:.0f} s limit"
    errors = [ln for ln in out.splitlines() if re.match(r"^\w*(Error|Exception)\b|^E\s|^FAILED", ln.strip())]
    return one_line(errors[-1] if errors else out) or f"exit {rc}"


# -- parts -------------------------------------------------------------------------------------------

SETUP_CODE = r"""
import json, os, platform, sys, time
from importlib import metadata
import torch
out = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda or "none",
       "gpus": torch.cuda.device_count(), "cpus": os.cpu_count(), "load": round(os.getloadavg()[0], 1)}
for dist in ("ray", "rcx"):
    try:
        out[dist] = metadata.version(dist)
    except metadata.PackageNotFoundError:
        out[dist] = "missing"
if torch.cuda.is_available():
    out["gpu"] = torch.cuda.get_device_name(0)
    out["capability"] = "%d.%d" % torch.cuda.get_device_capability(0)
    out["gpu_mem_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30)
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        b = a @ a
    torch.cuda.synchronize()
    out["bf16_tflops"] = round(20 * 2 * 4096**3 / (time.perf_counter() - t0) / 1e12)
print("SETUP " + json.dumps(out))
"""


RAY_GPUS_CODE = r"""
import ray
ray.init(address="local", include_dashboard=False, log_to_driver=False)
print("RAY_GPUS %g" % ray.cluster_resources().get("GPU", 0))
ray.shutdown()
"""


def part_setup(ctx: Context) -> Outcome:
    """The versions and devices; on CUDA also a bf16 matrix product and the GPUs Ray sees
    (without them the sweep's workers could never be placed)."""
    limit = ctx.limit("setup")
    rc, out, timed_out = call(ctx, [sys.executable, "-c", SETUP_CODE], limit)
    line = next((ln for ln in out.splitlines() if ln.startswith("SETUP ")), None)
    if rc or line is None:
        return Outcome(False, reason=failure(rc, out, timed_out, limit))
    facts = json.loads(line[len("SETUP "):])
    problems = []
    if ctx.device == "cuda" and not facts["gpus"]:
        problems.append("torch sees no CUDA device")
    for dist in ("ray", "rcx"):
        if facts[dist] == "missing":
            problems.append(f"{dist} is not installed (run through device_check.sh, after --prepare)")
    if ctx.device == "cuda" and facts["ray"] != "missing":
        rc, out, timed_out = call(ctx, [sys.executable, "-c", RAY_GPUS_CODE], ctx.limit("setup"))
        seen = re.search(r"^RAY_GPUS ([\d.]+)", out, re.M)
        facts["ray_gpus"] = float(seen[1]) if seen else "?"
        if not seen:
            problems.append(f"ray.init failed: {failure(rc, out, timed_out, limit)}")
        elif not float(seen[1]):
            problems.append("Ray sees no GPU (its workers at 0.25 GPU cannot be placed)")
    ctx.found.update(facts)
    return Outcome(not problems, facts, "; ".join(problems))


def gpu_test_files() -> list[str]:
    """Test files that hold a ``@pytest.mark.gpu`` test (collecting only them needs no TUI packages)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                  if "mark.gpu" in p.read_text(errors="replace"))


def pytest_counts(out: str) -> dict[str, int]:
    """The counts of pytest's closing line (``3 passed, 1 skipped in 4.2s``)."""
    counts: dict[str, int] = {}
    for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)", out):
        counts["errors" if what.startswith("error") else what] = int(n)
    return counts


def part_pytest_gpu(ctx: Context) -> Outcome:
    files = gpu_test_files()
    if not files:
        return Outcome(False, reason="no test file holds a @pytest.mark.gpu test")
    limit = ctx.limit("pytest-gpu")
    rc, out, timed_out = call(ctx, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu",
                                    *files], limit)
    counts = pytest_counts(out)
    figures = {k: counts.get(k, 0) for k in ("passed", "failed", "skipped")} | {"files": len(files)}
    if rc not in (0,) or timed_out:
        failed = [ln for ln in out.splitlines() if ln.startswith("FAILED")]
        return Outcome(False, figures, one_line(failed[0]) if failed else failure(rc, out, timed_out, limit))
    if ctx.device == "cuda" and not counts.get("passed"):
        return Outcome(False, figures, "no GPU test ran: every one skipped")
    return Outcome(True, figures)


SWEEP_PLAN = """
name = "devcheck-ksd"
seed = 0
device = "{device}"
[dataset]
name = "synthetic"
image_size = {image}
n_train = {n}
n_test = {n}
[space]
name = "ksd"
channels = {channels}
[sampler]
kind = "random"
n = {archs}
valid_only = true
[evaluators.ridge_rfm]
trials = {trials}
train_size = {n}
val_size = {n}
lambda = 1.0
"""


def val_accs(db: Path) -> dict[str, float]:
    """Architecture -> ``val_acc`` of the finished ridge-RFM evaluations of the file's latest run."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT arch, metrics_json FROM evaluations WHERE state = 'done' AND "
                           "run_id = (SELECT MAX(id) FROM runs)").fetchall()
    finally:
        con.close()
    return {a: float(json.loads(m)["val_acc"]) for a, m in rows if "val_acc" in json.loads(m)}


def sweep_workers(ctx: Context) -> list[str]:
    """Ray's flags for the sweep: 4 workers x 0.25 GPU on CUDA; 2 single-thread workers on a CPU."""
    if ctx.device == "cuda":
        return executor_args("ray", workers=4, gpus_per_worker=0.25, cpus_per_worker=2, threads_per_worker=2)
    return executor_args("ray", workers=2, cpus_per_worker=1, threads_per_worker=1)


def part_ksd_sweep(ctx: Context) -> Outcome:
    p = ctx.profile
    plan = ctx.tmp / "ksd_sweep.toml"
    plan.write_text(SWEEP_PLAN.format(device=ctx.device, image=p.sweep_image, n=p.sweep_images,
                                      channels=p.sweep_channels, archs=p.sweep_archs, trials=p.sweep_trials))
    total, t0 = ctx.limit("ksd-sweep"), time.monotonic()  # the in-process run gets 42 %, Ray the rest
    inproc = run_sweep("in-process", plan, ctx.tmp / "sweep_inproc.db", executor_args("in-process"),
                       timeout=0.42 * total, env=ctx.env, log=ctx.log)
    if ctx.device == "cuda" and ctx.found.get("ray_gpus") == 0:  # its workers could never be placed
        ray = SweepTiming("ray", 1, 0.0, 0, 0.0, 0.0, error="not run: Ray sees no GPU (setup)")
    else:
        ray = run_sweep("ray", plan, ctx.tmp / "sweep_ray.db", sweep_workers(ctx),
                        timeout=max(10.0, total - (time.monotonic() - t0) - 5), env=ctx.env, log=ctx.log)
    accs_in, accs_ray = val_accs(ctx.tmp / "sweep_inproc.db"), val_accs(ctx.tmp / "sweep_ray.db")
    common = sorted(set(accs_in) & set(accs_ray))
    figures: dict[str, Any] = {
        "archs": p.sweep_archs, "in-process eval/s": inproc.sweep_rate, "ray eval/s": ray.sweep_rate,
        "ratio": ratio(ray.sweep_rate, inproc.sweep_rate), "steady ratio": ratio(ray.steady_rate, inproc.steady_rate),
        "in-process cmd s": inproc.wall_s, "ray cmd s": ray.wall_s, "done": f"{inproc.done}/{ray.done}",
    }
    if common:
        figures["max |d val_acc|"] = max(abs(accs_in[a] - accs_ray[a]) for a in common)
    flags = " ".join(sweep_workers(ctx)[2:])
    target = (f"{'met' if figures['ratio'] >= SWEEP_TARGET else 'MISSED'}: Ray ({flags}) >= {SWEEP_TARGET:g}x "
              f"in-process sweep rate") if ctx.device == "cuda" else ""
    # A run cut at its time limit still gives a sweep rate (from what it finished): not a failure.
    problems = [f"{t.label}: {t.error}" for t in (inproc, ray) if t.returncode and not t.timed_out]
    problems += [f"{t.label}: no evaluation finished" for t in (inproc, ray) if not t.done and not t.returncode]
    return Outcome(not problems, figures, "; ".join(problems), target)


def part_ray_overhead(ctx: Context) -> Outcome:
    limit = ctx.limit("ray-overhead")
    out_json = ctx.tmp / "ray_overhead.json"
    rc, out, timed_out = call(ctx, [sys.executable, str(ROOT / "benchmarks" / "ray_overhead.py"), "--evals",
                                    str(ctx.profile.overhead_evals), "--rounds", "1", "--timeout", str(limit / 2),
                                    "--json", str(out_json)], limit)
    if rc or timed_out or not out_json.exists():
        return Outcome(False, reason=failure(rc, out, timed_out, limit))
    med = json.loads(out_json.read_text())["overhead_ms"]
    figures = {"evals": ctx.profile.overhead_evals, "ms/eval steady": med["steady"],
               "ms/eval with start-up": med["startup"], "in-process ms/eval": med["inproc_steady"]}
    target = f"{'met' if med['steady'] <= OVERHEAD_TARGET_MS else 'MISSED'}: <= {OVERHEAD_TARGET_MS:g} ms steady"
    return Outcome(True, figures, target=target)


def _floats(pattern: str, text: str) -> list[float]:
    return [float(x) for x in re.findall(pattern, text)]


def part_ridge(ctx: Context) -> Outcome:
    limit = ctx.limit("ridge")
    rc, out, timed_out = call(ctx, [sys.executable, str(ROOT / "benchmarks" / "ridge_rfm.py"), "--device",
                                    ctx.device, *ctx.profile.ridge], limit)
    lines = re.findall(r"^trials=(\d+):.*ratio ([\d.]+)x.*\(diff ([-+\d.]+) points\)", out, re.M)
    if rc or timed_out or not lines:
        return Outcome(False, reason=failure(rc, out, timed_out, limit))
    figures: dict[str, Any] = {}
    for trials, r, diff in lines:
        figures[f"x vs sklearn ({trials} trial{'s' if trials != '1' else ''})"] = float(r)
        figures[f"acc diff pts ({trials})"] = float(diff)
    return Outcome(True, figures)


def part_scores(ctx: Context) -> Outcome:
    limit = ctx.limit("scores")
    rc, out, timed_out = call(ctx, [sys.executable, str(ROOT / "benchmarks" / "all_scores.py"), "--device", ctx.device,
                                    "--settings", "exact", *ctx.profile.scores], limit)
    m = re.search(r"^exact: wall ([\d.]+) s per cell; all 15,625 NAS-Bench-201 cells: ([\d.]+) min", out, re.M)
    if rc or timed_out or not m:
        return Outcome(False, reason=failure(rc, out, timed_out, limit))
    minutes = float(m[2])
    target = "" if ctx.quick else (f"{'met' if minutes < SCORES_TARGET_MIN else 'missed'}: all 15,625 NB201 cells "
                                   f"< {SCORES_TARGET_MIN:.0f} min")
    return Outcome(True, {"s per cell": float(m[1]), "15,625 cells (min)": minutes}, target=target)


def part_cvu(ctx: Context) -> Outcome:
    limit = ctx.limit("cvu")
    rc, out, timed_out = call(ctx, [sys.executable, str(ROOT / "benchmarks" / "cvu.py"), "--device", ctx.device,
                                    *ctx.profile.cvu], limit)
    r, du = _floats(r"ratio ([\d.]+)x \(per architecture", out), _floats(r"max \|dU\| ([\d.]+), identical", out)
    if rc or timed_out or not r:
        return Outcome(False, reason=failure(rc, out, timed_out, limit))
    path = re.search(r"rcx path (\w+), dtype (?:torch\.)?(\w+)", out)  # cvu.py prints torch.bfloat16
    figures: dict[str, Any] = {"x vs plain loop": r[0], "max |dU|": du[0] if du else "?"}
    if path:
        figures["path"] = f"{path[1]}/{path[2]}"
    return Outcome(True, figures)


def part_train(ctx: Context) -> Outcome:
    limit = ctx.limit("train")
    rc, out, timed_out = call(ctx, [sys.executable, str(ROOT / "benchmarks" / "train.py"), "--device", ctx.device,
                                    *ctx.profile.train], limit)
    m = re.search(r"epoch ([\d.]+)x, input pipeline ([\d.]+)x", out)
    if rc or timed_out or not m:
        return Outcome(False, reason=failure(rc, out, timed_out, limit))
    accs = _floats(r"val_acc ([\d.]+)", out)
    figures: dict[str, Any] = {"epoch x vs DataLoader": float(m[1]), "pipeline x": float(m[2])}
    if len(accs) == 2:
        figures["val_acc ref/rcx"] = f"{accs[0]:.3f}/{accs[1]:.3f}"
    return Outcome(True, figures)


PART_FUNCTIONS: dict[str, Callable[[Context], Outcome]] = {
    "setup": part_setup, "pytest-gpu": part_pytest_gpu, "ksd-sweep": part_ksd_sweep,
    "ray-overhead": part_ray_overhead, "ridge": part_ridge, "scores": part_scores, "cvu": part_cvu,
    "train": part_train,
}


def run_part(name: str, ctx: Context, fn: Callable[[Context], Outcome] | None = None) -> PartResult:
    """Run one part; any exception becomes a FAIL with its one-line message. A part that would
    start with under 10 s of the overall budget left is skipped."""
    if ctx.deadline - time.monotonic() < 10:
        return PartResult(name, "SKIP", reason="no time left in the budget")
    t0 = time.monotonic()
    try:
        out = (fn or PART_FUNCTIONS[name])(ctx)
    except Exception as exc:  # a broken part must not stop the others
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return PartResult(name, "FAIL", time.monotonic() - t0, f"{type(exc).__name__}: {first}".rstrip(": "))
    return PartResult(name, "PASS" if out.ok else "FAIL", time.monotonic() - t0, out.reason, out.figures, out.target)


# -- data and environment -----------------------------------------------------------------------------

def synthetic_zip(dest: Path, train: int = 200, test: int = 100) -> Path:
    """A zip laid out like the CIFAR-10 JPEG copy (``train/<class>/NNNN.jpg``) holding rcx's
    synthetic images, for a machine without ``../shared/data`` nor ``.devcheck/``."""
    import io
    import zipfile

    import torch
    from PIL import Image

    from rcx.api.seeding import generator
    from rcx.data.synthetic import CLASSES, generate

    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as z:
        for split, per_class in (("train", train), ("test", test)):
            x, y = generate(per_class * len(CLASSES) * 2, 32, 0.15, generator("devcheck", split))
            for c, name in enumerate(CLASSES):
                for i, k in enumerate(torch.nonzero(y == c).flatten()[:per_class].tolist()):
                    buf = io.BytesIO()
                    Image.fromarray(x[k].permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=90)
                    z.writestr(f"{split}/{name}/{i:04d}.jpg", buf.getvalue())
    return dest


def images_zip(tmp: Path) -> tuple[Path, str]:
    """The zip the benchmarks should read and what it is: ``$RCX_CIFAR_ZIP``, the carried
    subset, the shared CIFAR-10 copy, or else synthetic images made now."""
    from cifar_subset import SHARED_ZIP

    for path, what in ((os.environ.get("RCX_CIFAR_ZIP"), "CIFAR-10 ($RCX_CIFAR_ZIP)"),
                       (ROOT / ".devcheck" / "cifar10-subset.zip", "CIFAR-10 subset (.devcheck)"),
                       (SHARED_ZIP, "CIFAR-10 (../shared/data)")):
        if path and Path(path).exists():
            return Path(path), what
    return synthetic_zip(tmp / "synthetic-images.zip"), "synthetic images (no CIFAR-10 zip found)"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds per part; runs on a CPU)")
    ap.add_argument("--only", default="", help=f"comma-separated parts among {', '.join(PARTS)}")
    ap.add_argument("--budget", type=float, help="seconds for all parts (default: 480, quick 1500); parts "
                    "that would start later are skipped")
    ap.add_argument("--out", type=Path, help="report folder (default: $OUT, else .devcheck/out)")
    ap.add_argument("--prepare", action="store_true", help="build .devcheck/ for the GPU machine, then exit")
    args = ap.parse_args(argv)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in only if p not in PARTS]
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; parts: {', '.join(PARTS)}")
    args.parts = [p for p in PARTS if not only or p in only]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.prepare:
        from devcheck_env import prepare

        prepare()
        return 0
    profile = QUICK if args.quick else FULL
    out_dir = args.out or Path(os.environ.get("OUT") or ROOT / ".devcheck" / "out")
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "device_check.log"
    log.write_text("")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rcx-devcheck-") as tmp_name:
        tmp = Path(tmp_name)
        env = child_env()
        env["RCX_CACHE_DIR"] = str(tmp / "rcx-cache")
        meta: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": args.device,
                                "profile": "quick" if args.quick else "full", "commit": git_commit(),
                                "host": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"}
        try:
            zip_path, what = images_zip(tmp)
            env["RCX_CIFAR_ZIP"] = str(zip_path)
            meta["images"] = what
        except Exception as exc:  # the image benchmarks then fail on their own, with this reason
            meta["images"] = f"none: {one_line(str(exc))}"
        ctx = Context(args.device, args.quick, profile, log, tmp, start + (args.budget or profile.budget), env)
        print(f"device check: {args.device}, {'quick' if args.quick else 'full'}, parts {', '.join(args.parts)}; "
              f"images: {meta['images']}; log {log}", flush=True)
        results: list[PartResult] = []
        for name in args.parts:
            r = run_part(name, ctx)
            results.append(r)
            print(f"[{name}] {r.status} {r.seconds:.0f}s {r.reason}".rstrip(), flush=True)
            if name == "setup":
                meta.update({k: ctx.found[k] for k in ("gpu", "torch", "cuda", "ray", "python") if k in ctx.found})
    meta["seconds"] = round(time.monotonic() - start)
    table = summary_table(results)
    with open(log, "a") as f:
        f.write("\n" + table + "\n")
    paths = write_reports(results, meta, out_dir)
    print("\n" + table)
    print(f"total {meta['seconds']} s; reports: {', '.join(str(p) for p in paths)}, {log}")
    return 1 if any(r.status == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
