#!/usr/bin/env bash
# The whole test suite, on a fresh machine as on a developer's:
# installs what is missing, then runs the Rust tests, the suite again over
# TLS, and the C/C++ tests (ctest) against the installed CMake package.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# rustup installs cargo under ~/.cargo; a non-login shell may not have it on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  . "$HOME/.cargo/env"
fi

# One source build of Valkey per run, shared by every test that needs it.
export VTF_CACHE_DIR="${VTF_CACHE_DIR:-$PWD/target/vtf-cache}"
export RUST_BACKTRACE=1

step() { printf '\n=== %s\n' "$*"; }

step "other engines (Redis 7.0, Valkey 9.1.2)"
scripts/fetch-engines.sh

step "Valkey 8.1.1 source (source builds, Valkey's test modules, valkeymodule.h)"
scripts/fetch-valkey-source.sh >/dev/null

step "cargo test (all Rust tests, multi-threaded)"
cargo test --all-targets

step "cargo test again with VTF_TLS=1 (core, replication, cluster and its operations over TLS)"
tls_tests=()
for t in server replication cluster cluster_ops; do
  [ -f "tests/$t.rs" ] && tls_tests+=(--test "$t")
done
VTF_TLS=1 cargo test "${tls_tests[@]}"

step "cargo test --test server with VTF_TLS=mutual (clients present certificates)"
VTF_TLS=mutual cargo test --test server

step "C and C++ tests (ctest -j against the installed package)"
scripts/c-tests.sh

step "Python tests (pip install ./python into target/venv, pytest python/tests)"
scripts/python-tests.sh

echo
echo "all test suites passed"
