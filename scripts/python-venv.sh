#!/usr/bin/env bash
# Makes (or refreshes) the Python virtualenv the tests and benchmarks use:
# target/venv (or $VTF_VENV) from python3 (or $VTF_PYTHON), with the test
# tools and `pip install ./python` (cargo builds libvtf into the wheel).
# Prints nothing but errors; the venv's path is $VTF_VENV or target/venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${VTF_PYTHON:-python3}"
VENV="${VTF_VENV:-target/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check pytest pytest-xdist "valkey[libvalkey]" vermin mypy
# --force-reinstall: the version number does not change between commits.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall ./python
