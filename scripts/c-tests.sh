#!/usr/bin/env bash
# Builds and installs the library with CMake into a prefix, then builds and
# runs, against that prefix only (as users do):
#   - c-tests/           the C tests (and c-tests/cpp when present), ctest -j2
#   - c-tests/consumer/  find_package (static, shared, C++) and pkg-config
#   - the C++ GoogleTest example of docs/cpp.md as a fresh project
#   - a bare `cc ... $(pkg-config --cflags --libs vtf)` build of a program
# Exits non-zero on the first failure.
#
#   scripts/c-tests.sh            build dirs under target/ (VTF_C_WORK to move them)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${VTF_C_WORK:-$root/target}
prefix="$work/c-prefix"
jobs=${VTF_C_JOBS:-2}
step() { printf '\n== c-tests.sh: %s\n' "$*" >&2; }

step "building libvtf with CMake (cargo release build in target/cmake)"
cmake -S "$root" -B "$work/c-build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/c-build" -j "$jobs"

step "installing into $prefix"
rm -rf "$prefix"
cmake --install "$work/c-build" --prefix "$prefix" >/dev/null
for f in bin/vtf include/vtf.h lib/libvtf.a lib/libvtf.so lib/pkgconfig/vtf.pc \
         lib/cmake/ValkeyTestFramework/ValkeyTestFrameworkConfig.cmake \
         lib/cmake/ValkeyTestFramework/ValkeyTestFrameworkConfigVersion.cmake; do
  [ -e "$prefix/$f" ] || { echo "c-tests.sh: $prefix/$f was not installed" >&2; exit 1; }
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

step "consumer project: find_package and pkg-config"
cmake -S "$root/c-tests/consumer" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer-build" -j "$jobs"
ctest --test-dir "$work/consumer-build" --output-on-failure -j "$jobs"

step "bare compiler: cc main.c \$(pkg-config --cflags --libs vtf)"
version=$(pkg-config --modversion vtf)
# shellcheck disable=SC2046 # word splitting of the flags is intended
cc -std=c11 -Wall -Wextra -Werror -DVTF_EXPECTED_VERSION="\"$version\"" \
   -o "$work/consumer-build/pkgconfig-bare" "$root/c-tests/consumer/main.c" \
   $(pkg-config --cflags --libs vtf)
LD_LIBRARY_PATH="$(pkg-config --variable=libdir vtf)" "$work/consumer-build/pkgconfig-bare"

step "C tests against the installed package"
# The example module needs valkeymodule.h from a Valkey source tree; here it
# is required, so the module suites cannot silently turn into disabled tests.
# test_build builds 8.1.1 from the same repository, into the cache that the
# Rust build tests fill (so it is usually a cache hit).
VTF_TEST_VALKEY_REPO="$("$root/scripts/fetch-valkey-source.sh")"
VALKEY_MODULE_H_DIR="${VALKEY_MODULE_H_DIR:-$VTF_TEST_VALKEY_REPO/src}"
VTF_CACHE_DIR="${VTF_CACHE_DIR:-$root/target/vtf-cache}"
export VTF_TEST_VALKEY_REPO VALKEY_MODULE_H_DIR VTF_CACHE_DIR
cmake -S "$root/c-tests" -B "$work/c-tests-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DVTF_REQUIRE_EXAMPLE_MODULE=ON >/dev/null
cmake --build "$work/c-tests-build" -j "$jobs"
ctest --test-dir "$work/c-tests-build" --output-on-failure -j "$jobs"

step "docs/cpp.md's C++ example, copied into a fresh CMake project"
example_project="$work/cpp-doc-example"
rm -rf "$example_project" "$example_project-build"
mkdir -p "$example_project"
# The first cmake and cpp blocks after the heading "## A complete example"
# (up to the next heading of that level).
extract() {
  awk -v lang="$1" '
    /^## A complete example/ { inside = 1; next }
    inside && /^## / { exit }
    inside && !done && $0 == "```" lang { copying = 1; next }
    copying && /^```/ { copying = 0; done = 1; next }
    copying { print }
  ' "$root/docs/cpp.md"
}
extract cmake > "$example_project/CMakeLists.txt"
extract cpp > "$example_project/mymodule_test.cpp"
for f in CMakeLists.txt mymodule_test.cpp; do
  [ -s "$example_project/$f" ] || { echo "c-tests.sh: docs/cpp.md gave no $f" >&2; exit 1; }
done
module=$(find "$work/c-tests-build" -name vtfexample.so -print -quit)
[ -n "$module" ] || { echo "c-tests.sh: vtfexample.so was not built" >&2; exit 1; }
cmake -S "$example_project" -B "$example_project-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DMYMODULE_PATH="$module" >/dev/null
cmake --build "$example_project-build" -j "$jobs"
ctest --test-dir "$example_project-build" --output-on-failure -j "$jobs"

step "all C/CMake checks passed"
