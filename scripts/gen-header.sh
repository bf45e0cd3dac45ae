#!/usr/bin/env bash
# Regenerates include/vtf.h from the Rust sources with cbindgen (a
# dev-dependency; nothing to install): runs the header test in bless mode.
set -euo pipefail
cd "$(dirname "$0")/.."
VTF_BLESS=1 cargo test --quiet --test header
echo "include/vtf.h regenerated; commit it with the Rust change." >&2
