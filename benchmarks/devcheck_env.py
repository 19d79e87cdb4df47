"""What the GPU machine needs for the device check and does not have: built here, installed there.

The GPU machine (see DEVELOPERS.md) reaches no package registry, runs its image's own Python
3.12 with PyTorch, and receives this repository plus the paths named in ``carry`` (64 MiB in
all). ``prepare`` builds ``.devcheck/`` (gitignored) on a machine with a registry:

- ``wheels/``: Ray for CPython 3.12 on manylinux x86-64, repacked without its Java jar, its
  dashboard's web client, RLlib and Ray LLM (about 30 MiB of the 75 that rcx never loads), and
  the few pure or small packages that Ray and rcx import and the image lacks (jsonschema and
  its helpers, tomli);
- ``cifar10-subset.zip``: the first 200 training and 100 test JPEGs of each CIFAR-10 class
  from ``../shared/data`` (the benchmarks read it through ``$RCX_CIFAR_ZIP``);
- ``MANIFEST.json``: what is there, with sizes.

``install`` runs there (standard library only): it installs each carried wheel whose
distribution the interpreter cannot already find, into ``--site`` (which the caller puts on
``PYTHONPATH``), and gives rcx, which runs from the source tree there, the entry points of an
installed distribution (a small ``rcx-<version>.dist-info`` in ``--site``), since its built-in
evaluators, spaces and datasets register through them; likewise each plugin of ``plugins/``
(``rcx-naswot``, ``rcx-zerocost``: ``benchmarks/all_scores.py`` needs them), whose folders
``device_check.sh`` puts on ``PYTHONPATH``.

    python benchmarks/devcheck_env.py prepare [--dest .devcheck]
    python benchmarks/devcheck_env.py install --site /tmp/rcx-devcheck-site [--wheels .devcheck/wheels]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = ROOT / ".devcheck"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rcx-devcheck"
LIMIT_MIB = 60  # the `run` tool carries 64 MiB, the repository included
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]
RAY_DEFAULT = "2.58.0"
# Distributions the image lacks (KINDS.md's package list): Ray's and rcx's imports.
EXTRA = ["jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "tomli"]
RAY_DROP = ("ray/jars/", "ray/dashboard/client/build/", "ray/rllib/", "ray/llm/")
CIFAR_TRAIN, CIFAR_TEST = 200, 100  # per class: enough for ridge_rfm.py, cvu.py and train.py's defaults


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def download(spec: str, dest: Path) -> Path:
    """One wheel for CPython 3.12 on manylinux x86-64 (``pip download --no-deps``) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(dest), spec]
    subprocess.run(cmd, check=True)
    name = re.split(r"[=<>!~ ]", spec)[0].replace("-", "_").lower()
    found = [p for p in dest.glob("*.whl") if p.name.lower().startswith(name + "-")]
    new = [p for p in found if p not in before] or found
    if not new:
        raise RuntimeError(f"pip download {spec}: no wheel named {name}-* in {dest}")
    return max(new, key=lambda p: p.stat().st_mtime)


def repack_ray(src: Path, dest: Path) -> Path:
    """A copy of the Ray wheel ``src`` in the folder ``dest`` without the members under
    :data:`RAY_DROP`, its RECORD rewritten to match. Returns the new wheel's path (same name)."""
    out = dest / src.name
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if info.filename.startswith(RAY_DROP):
                continue
            data = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                kept = [ln for ln in data.decode().splitlines() if not ln.startswith(RAY_DROP)]
                data = ("\n".join(kept) + "\n").encode()
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out


def cifar_subset(src: Path, out: Path, train: int = CIFAR_TRAIN, test: int = CIFAR_TEST) -> int:
    """Copy the first ``train``/``test`` JPEGs of each class of the zip ``src`` into the zip
    ``out`` (stored: JPEGs do not compress). Returns the number of images."""
    member = re.compile(r"^(?P<split>train|test)/[^/]+/(?P<index>\d{4})\.jpg$")
    limit, n = {"train": train, "test": test}, 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            m = member.match(info.filename)
            if m and int(m["index"]) < limit[m["split"]]:
                zout.writestr(info.filename, zin.read(info))
                n += 1
    return n


def folder_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def prepare(dest: Path = DEFAULT_DEST) -> dict[str, object]:
    """Build ``dest`` (see the module docstring) and return its manifest."""
    sys.path.insert(0, str(Path(__file__).parent))
    from cifar_subset import zip_path  # benchmarks/

    wheels = dest / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    ray_version = _version("ray") or RAY_DEFAULT
    ray_src = next(CACHE.glob(f"ray-{ray_version}-cp312-*.whl"), None) or download(f"ray=={ray_version}", CACHE)
    ray_whl = repack_ray(ray_src, wheels)
    print(f"ray {ray_version}: {ray_src.stat().st_size / 2**20:.1f} MiB -> "
          f"repacked {ray_whl.stat().st_size / 2**20:.1f} MiB")
    for dist in EXTRA:
        local = _version(dist)
        path = download(f"{dist}=={local}" if local else dist, wheels)
        print(f"{path.name}: {path.stat().st_size / 2**20:.2f} MiB")
    manifest: dict[str, object] = {"created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                   "ray": ray_version, "python": "3.12",
                                   "wheels": sorted(p.name for p in wheels.glob("*.whl"))}
    src = zip_path()
    if src.exists():
        n = cifar_subset(src, dest / "cifar10-subset.zip")
        manifest["cifar10_subset"] = f"{n} images from {src.name}"
        print(f"cifar10-subset.zip: {n} images, {(dest / 'cifar10-subset.zip').stat().st_size / 2**20:.1f} MiB")
    else:
        (dest / "cifar10-subset.zip").unlink(missing_ok=True)
        manifest["cifar10_subset"] = f"none: {src} not found (the benchmarks fall back to synthetic images)"
        print(f"warning: {src} not found: no CIFAR-10 subset (set RCX_CIFAR_ZIP)", file=sys.stderr)
    manifest["mib"] = round(folder_mib(dest), 1)
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if manifest["mib"] > LIMIT_MIB:  # type: ignore[operator]
        raise SystemExit(f"{dest} holds {manifest['mib']} MiB, over the {LIMIT_MIB} MiB that can travel")
    print(f"{dest}: {manifest['mib']} MiB (limit {LIMIT_MIB})")
    return manifest


def wheel_dist(path: Path) -> str:
    """The distribution name of a wheel file (``rpds_py-0.22.3-cp312-...whl`` -> ``rpds_py``)."""
    return path.name.split("-")[0]


def install(site: Path, wheels: Path) -> list[str]:
    """Install the carried wheels whose distributions are missing into ``site``, and give rcx
    its entry points there when it runs from the source tree; returns what was installed."""
    site.mkdir(parents=True, exist_ok=True)
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    missing = [p for p in sorted(wheels.glob("*.whl")) if _version(wheel_dist(p)) is None] if wheels.is_dir() else []
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, missing)], check=True)
    done = [wheel_dist(p) for p in missing]
    if _version("rcx") is None:
        write_rcx_dist_info(site)
        done.append("rcx (entry points of the source tree)")
    for folder in plugin_folders():  # device_check.sh puts each on PYTHONPATH
        name = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"]
        if _version(name) is None:
            write_rcx_dist_info(site, folder)
            done.append(f"{name} (entry points of {folder.relative_to(ROOT)})")
    return done


def plugin_folders() -> list[Path]:
    """The plugins of ``plugins/`` (each a folder with its pyproject.toml and its package)."""
    return sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def write_rcx_dist_info(site: Path, project_dir: Path = ROOT) -> Path:
    """``site/<name>-<version>.dist-info`` with METADATA and the entry points of
    ``project_dir``'s pyproject.toml (rcx's, or a plugin's of ``plugins/``)."""
    project = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project.get("entry-points", {}) | {"console_scripts": project.get("scripts", {})}
    text = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
                   for group, eps in groups.items() if eps)
    (info / "entry_points.txt").write_text(text)
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="build .devcheck/ here (needs a package registry)")
    p.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    i = sub.add_parser("install", help="install what .devcheck/ carries (on the GPU machine)")
    i.add_argument("--site", type=Path, required=True)
    i.add_argument("--wheels", type=Path, default=DEFAULT_DEST / "wheels")
    args = ap.parse_args()
    if args.command == "prepare":
        prepare(args.dest)
    else:
        done = install(args.site, args.wheels)
        print(f"devcheck_env: installed {', '.join(done) if done else 'nothing (all present)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
