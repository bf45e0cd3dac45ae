#!/usr/bin/env bash
# The Python face's tests, as a user installs it: a virtualenv in target/venv,
# `pip install ./python` (cargo builds libvtf into the wheel), the test tools,
# then pytest on python/tests (the native API, the plugin and vtf.compat).
# pytest's exit 5 (no tests collected) is a failure here: a suite that ran
# nothing has proved nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${VTF_PYTHON:-python3}"
VENV="${VTF_VENV:-target/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check pytest pytest-xdist "valkey[libvalkey]" vermin
# --force-reinstall: the version number does not change between commits.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall ./python

status=0
"$VENV/bin/python" -m pytest python/tests -rs -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "python-tests: pytest collected no tests in python/tests: failing" >&2
  exit 1
fi
exit "$status"
