#!/usr/bin/env bash
# Installs what the build and the test suite need on a fresh Debian 12 machine:
# a C/C++ toolchain, CMake, GoogleTest, hiredis (benchmark baseline), valgrind, python3-venv,
# and valkey-server/valkey-cli 8.0 from bookworm-backports. Idempotent; quiet
# when everything is already present.
set -euo pipefail

need=()
for cmd in cmake make gcc g++ pkg-config valkey-server valkey-cli git curl xz valgrind; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
[ -f /usr/include/gtest/gtest.h ] || need+=(gtest)
[ -f /usr/include/hiredis/hiredis.h ] || need+=(hiredis)
[ -f /usr/include/openssl/ssl.h ] || need+=(openssl)
# The Python tests make a virtualenv: Debian splits venv/ensurepip into python3-venv.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: missing ${need[*]}; installing" >&2

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# bookworm-backports carries valkey 8.0; enable it without naming a host by
# copying the main stanza of the distribution's own sources file.
if [ ! -f /etc/apt/sources.list.d/backports.sources ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
  awk 'BEGIN{RS=""; ORS="\n\n"} /Suites: bookworm bookworm-updates/ {sub(/Suites: bookworm bookworm-updates/, "Suites: bookworm-backports"); print}' \
    /etc/apt/sources.list.d/debian.sources | $SUDO tee /etc/apt/sources.list.d/backports.sources >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake make gcc g++ pkg-config libssl-dev git curl xz-utils ca-certificates \
  libgtest-dev googletest libhiredis-dev valgrind python3 python3-venv >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports valkey-server valkey-tools >/dev/null
valkey-server --version >&2
