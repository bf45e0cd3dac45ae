#!/usr/bin/env bash
# The Python face's tests, as a user installs it: the virtualenv of
# scripts/python-venv.sh (target/venv with `pip install ./python`), then
# pytest on python/tests (the native API, the plugin and vtf.compat); then the
# same on Python 3.9 (the oldest supported) when this machine has one.
# pytest's exit 5 (no tests collected) is a failure here: a suite that ran
# nothing has proved nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { # VENV ARGS...
  local venv="$1" status=0
  shift
  VTF_VENV="$venv" scripts/python-venv.sh
  "$venv/bin/python" -m pytest python/tests -rs -p no:cacheprovider "$@" || status=$?
  if [ "$status" -eq 5 ]; then
    echo "python-tests: pytest collected no tests in python/tests: failing" >&2
    return 1
  fi
  return "$status"
}

VTF_PYTHON="${VTF_PYTHON:-python3}" run "${VTF_VENV:-target/venv}" "$@"

# Debian 12 ships only 3.11; a pyenv or distribution 3.9 is used when present.
py39="${VTF_PYTHON39:-}"
if [ -z "$py39" ]; then
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python3.9 "$(command -v python3.9 || true)"; do
    # A pyenv shim may exist without its version being selected: it must run.
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
      py39="$candidate"
      break
    fi
  done
fi
if [ -n "$py39" ] && ! "$py39" --version >/dev/null 2>&1; then
  echo "python-tests: VTF_PYTHON39=$py39 does not run" >&2
  exit 1
fi
if [ -n "$py39" ]; then
  echo "python-tests: again on $("$py39" --version) ($py39)"
  VTF_PYTHON="$py39" run target/venv39 "$@"
else
  echo "python-tests: NO PYTHON 3.9 ON THIS MACHINE: 3.9 compatibility is checked by syntax only" \
       "(python/tests/test_python39.py: ast feature_version=(3, 9) and vermin)" >&2
fi
