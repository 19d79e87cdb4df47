#!/usr/bin/env bash
# The device check (benchmarks/device_check.py): one command on a machine with a CUDA GPU.
#
#   bash benchmarks/device_check.sh --prepare      # here, with a package registry: builds .devcheck/
#   bash benchmarks/device_check.sh [--device cuda|cpu] [--quick] [--only PART,...] [--budget S]
#
# On the GPU machine (no registry, its image's python3 with PyTorch) it first installs what
# .devcheck/ carries and the image lacks (Ray and a few small packages, into a folder put on
# PYTHONPATH) and gives rcx, which runs from this source tree there, its entry points.
# DEVELOPERS.md, "Device check", says how to run it through the `run` tool.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then PY=python
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
export PYTHONUNBUFFERED=1

for arg in "$@"; do
  if [ "$arg" = "--prepare" ]; then exec "$PY" benchmarks/device_check.py "$@"; fi
done

SITE=${RCX_DEVCHECK_SITE:-/tmp/rcx-devcheck-site}
PLUGINS=""  # plugins/*: importable from the source tree, as rcx itself (devcheck_env gives them entry points)
for dir in "$ROOT"/plugins/*/; do
  if [ -f "$dir/pyproject.toml" ]; then PLUGINS="$PLUGINS:${dir%/}"; fi
done
export PYTHONPATH="$SITE:$ROOT$PLUGINS${PYTHONPATH:+:$PYTHONPATH}"
"$PY" benchmarks/devcheck_env.py install --site "$SITE" --wheels .devcheck/wheels \
  || echo "device_check.sh: installing from .devcheck/wheels failed; the parts that need it will say so" >&2
if [ -z "${RCX_CIFAR_ZIP:-}" ] && [ -f .devcheck/cifar10-subset.zip ]; then
  export RCX_CIFAR_ZIP="$ROOT/.devcheck/cifar10-subset.zip"
fi
exec "$PY" benchmarks/device_check.py "$@"
