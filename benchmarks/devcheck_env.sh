# Sourced by benchmarks/device_check.sh and benchmarks/gpu_studies.sh (from the project root):
#
#   . benchmarks/devcheck_env.sh SCRIPT.py WHEELS_DIR "$@"
#
# Picks the interpreter (PYTHON, else the active virtual environment, else .venv, else python3)
# as PY; with --prepare among the arguments, hands over to SCRIPT.py at once. Otherwise puts the
# site folder, the repository and the plugin folders of plugins/ on PYTHONPATH, and installs what
# WHEELS_DIR carries and the image lacks, with the entry points of rcx and its plugins
# (benchmarks/devcheck_env.py). Sets ROOT, PY and SITE.
ROOT=$(pwd)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then PY=python
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
export PYTHONUNBUFFERED=1
_devcheck_script=$1
_devcheck_wheels=$2
shift 2
for arg in "$@"; do
  if [ "$arg" = "--prepare" ]; then exec "$PY" "$_devcheck_script" "$@"; fi
done

SITE=${RCX_DEVCHECK_SITE:-/tmp/rcx-devcheck-site}
PLUGINS=""  # plugins/*: importable from the source tree, as rcx itself (devcheck_env gives them entry points)
for dir in "$ROOT"/plugins/*/; do
  if [ -f "$dir/pyproject.toml" ]; then PLUGINS="$PLUGINS:${dir%/}"; fi
done
export PYTHONPATH="$SITE:$ROOT$PLUGINS${PYTHONPATH:+:$PYTHONPATH}"
"$PY" benchmarks/devcheck_env.py install --site "$SITE" --wheels "$_devcheck_wheels" \
  || echo "$(basename "$_devcheck_script" .py).sh: installing from $_devcheck_wheels failed; the parts that need it will say so" >&2
