#!/usr/bin/env bash
# The benchmark: builds the release library, the bench example and the C
# round-trip program (C ABI vs hiredis), runs everything and prints the table,
# then the Python start row (bench/python_start.py in target/venv).
# Extra arguments go to the bench (e.g. --rounds 10). Exits non-zero on any error.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  . "$HOME/.cargo/env"
fi
if [ ! -f /usr/include/hiredis/hiredis.h ]; then
  apt-get install -y libhiredis-dev >/dev/null
fi

cargo build --release --lib --example bench
mkdir -p target/bench
cc -O2 -Wall -Wextra -Werror -Iinclude bench/roundtrip.c -o target/bench/roundtrip \
  -Ltarget/release -lvtf -lhiredis -Wl,-rpath,"$PWD/target/release"

target/release/examples/bench --roundtrip target/bench/roundtrip "$@"

# The Python row (vtf.Server vs subprocess.Popen + PING); VTF_BENCH_PYTHON=0 skips it.
if [ "${VTF_BENCH_PYTHON:-1}" != 0 ]; then
  echo
  scripts/python-venv.sh
  "${VTF_VENV:-target/venv}/bin/python" bench/python_start.py
fi
