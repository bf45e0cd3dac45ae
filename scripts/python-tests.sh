#!/usr/bin/env bash
# The Python face's tests, as a user installs it: the virtualenv of
# scripts/python-venv.sh (target/venv with `pip install ./python`), then
# pytest on python/tests (the native API, the plugin and vtf.compat); then the
# same on Python 3.9 (the oldest supported) and on the newest Python 3 this
# machine has, when they differ from python3.
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

# The interpreters: python3, the oldest supported (3.9) and the newest Python 3
# this machine has (pyenv's or on PATH), each once. Debian 12 ships only 3.11;
# the machine image's pyenv carries others.
versions_of() { # prints "MAJOR.MINOR PATH" for every runnable candidate
  local candidate
  for candidate in "$(command -v python3 || true)" \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3.[0-9]* \
      $(compgen -c python3. 2>/dev/null | grep -E '^python3\.[0-9]+$' | sort -u); do
    case "$candidate" in *-config|*-gdb.py|*m) continue ;; esac
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    # A pyenv shim may exist without its version being selected: it must run.
    "$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2], sys.executable)' 2>/dev/null || true
  done
}
default_python="${VTF_PYTHON:-python3}"
default_version=$("$default_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
found=$(versions_of | sort -t. -k1,1n -k2,2n -u)

py39="${VTF_PYTHON39:-$(echo "$found" | awk '$1 == "3.9" { print $2; exit }')}"
if [ -n "${VTF_PYTHON39:-}" ] && ! "$py39" --version >/dev/null 2>&1; then
  echo "python-tests: VTF_PYTHON39=$py39 does not run" >&2
  exit 1
fi
newest=$(echo "$found" | awk 'NF == 2 { line = $0 } END { print line }')
newest_version=${newest%% *}
newest_python=${newest#* }

echo "python-tests: on $("$default_python" --version) ($default_python)"
VTF_PYTHON="$default_python" run "${VTF_VENV:-target/venv}" "$@"

if [ -n "$py39" ] && [ "$default_version" != "3.9" ]; then
  echo "python-tests: again on $("$py39" --version) ($py39), the oldest supported"
  VTF_PYTHON="$py39" run target/venv39 "$@"
elif [ -z "$py39" ]; then
  echo "python-tests: NO PYTHON 3.9 ON THIS MACHINE: 3.9 compatibility is checked by syntax only" \
       "(python/tests/test_python39.py: ast feature_version=(3, 9) and vermin)" >&2
fi

if [ -n "$newest" ] && [ "$newest_version" != "$default_version" ] && [ "$newest_version" != "3.9" ]; then
  echo "python-tests: again on $("$newest_python" --version) ($newest_python), the newest here"
  VTF_PYTHON="$newest_python" run "target/venv${newest_version/./}" "$@"
fi
