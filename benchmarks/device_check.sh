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
. benchmarks/devcheck_env.sh benchmarks/device_check.py .devcheck/wheels "$@"  # PY, ROOT, PYTHONPATH; --prepare hands over
if [ -z "${RCX_CIFAR_ZIP:-}" ] && [ -f .devcheck/cifar10-subset.zip ]; then
  export RCX_CIFAR_ZIP="$ROOT/.devcheck/cifar10-subset.zip"
fi
exec "$PY" benchmarks/device_check.py "$@"
