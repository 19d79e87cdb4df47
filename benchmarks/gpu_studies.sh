#!/usr/bin/env bash
# The GPU study plans (issue 19; benchmarks/gpu_studies.py): one command on the lent GPU machine.
#
#   bash benchmarks/gpu_studies.sh --prepare      # here, with a registry and ../shared/data: builds .devcheck-studies/
#   bash benchmarks/gpu_studies.sh [--budget S] [--device cuda|cpu] [PLAN ...]
#
# On the GPU machine (no registry, its image's python3 with PyTorch) it first installs what
# .devcheck-studies/ carries and the image lacks and gives rcx and the plugins of plugins/ their
# entry points (benchmarks/devcheck_env.py, as benchmarks/device_check.sh does), then runs the
# plans. DEVELOPERS.md, "Device check", says how to run it through the `run` tool.
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
  if [ "$arg" = "--prepare" ]; then exec "$PY" benchmarks/gpu_studies.py "$@"; fi
done

SITE=${RCX_DEVCHECK_SITE:-/tmp/rcx-devcheck-site}
PLUGINS=""  # plugins/*: importable from the source tree, as rcx itself (devcheck_env gives them entry points)
for dir in "$ROOT"/plugins/*/; do
  if [ -f "$dir/pyproject.toml" ]; then PLUGINS="$PLUGINS:${dir%/}"; fi
done
export PYTHONPATH="$SITE:$ROOT$PLUGINS${PYTHONPATH:+:$PYTHONPATH}"
"$PY" benchmarks/devcheck_env.py install --site "$SITE" --wheels .devcheck-studies/wheels \
  || echo "gpu_studies.sh: installing from .devcheck-studies/wheels failed" >&2
exec "$PY" benchmarks/gpu_studies.py "$@"
