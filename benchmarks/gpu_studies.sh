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
. benchmarks/devcheck_env.sh benchmarks/gpu_studies.py .devcheck-studies/wheels "$@"  # PY, ROOT, PYTHONPATH; --prepare hands over
exec "$PY" benchmarks/gpu_studies.py "$@"
