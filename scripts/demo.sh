#!/usr/bin/env bash
# The demo of the main job: servers, replication, a TLS cluster, commands and
# timings, against real valkey-server processes. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  . "$HOME/.cargo/env"
fi
exec cargo run --quiet --release --example demo -- "$@"
