#!/usr/bin/env bash
# Fetches real Valkey source (Debian's upstream tarball of 8.1.1, the only Valkey
# source reachable from these machines) and turns it into a local git repository
# tagged 8.1.1, so that building from a git ref can be tested for real.
#
#   scripts/fetch-valkey-source.sh [DEST]   (default: $VTF_SOURCE_DIR or target/valkey-src)
#
# Prints the repository path on stdout. Idempotent: an existing repository is reused.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-${VTF_SOURCE_DIR:-$here/target/valkey-src}}
repo="$dest/valkey"
# The tag must hold the whole tree: Valkey's .gitignore covers generated files
# the build needs (deps/jemalloc/configure), so an entry made without -f is broken.
if [ -d "$repo/.git" ] && git -C "$repo" cat-file -e 8.1.1:deps/jemalloc/configure 2>/dev/null; then
  echo "$repo"
  exit 0
fi
mkdir -p "$dest"
apt_dir="$dest/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources"

# A deb-src stanza for trixie, copied from the distribution's own sources so no
# host name is written here.
awk 'BEGIN{RS=""; ORS="\n\n"} /Suites: bookworm bookworm-updates/ {sub(/Types: deb/, "Types: deb-src"); sub(/Suites: bookworm bookworm-updates/, "Suites: trixie"); print}' \
  /etc/apt/sources.list.d/debian.sources > "$apt_dir/sources/trixie-src.sources"

opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources"
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
apt-get "${opts[@]}" update -qq >&2
uri=$(apt-get "${opts[@]}" --print-uris source valkey 2>/dev/null | tr -d "'" | awk '{print $1}' | grep '\.orig\.tar\.xz$' | head -n 1)
if [ -z "$uri" ]; then
  echo "fetch-valkey-source: apt-get --print-uris source valkey gave no .orig.tar.xz" >&2
  exit 1
fi
tarball="$dest/$(basename "$uri")"
if [ ! -s "$tarball" ]; then
  if ! curl -fsSL --retry 3 -o "$tarball.part" "$uri"; then
    echo "fetch-valkey-source: download of $uri failed" >&2
    exit 1
  fi
  mv -f "$tarball.part" "$tarball"
fi

rm -rf "$repo.tmp"
mkdir -p "$repo.tmp"
tar -xJf "$tarball" -C "$repo.tmp" --strip-components=1
git -C "$repo.tmp" init -q
git -C "$repo.tmp" -c user.name=vtf -c user.email=vtf@localhost add -A -f
# Fixed dates: the same tarball gives the same commit id on every machine and
# every fetch, so build caches keyed by commit stay valid.
GIT_AUTHOR_DATE="2025-04-23T00:00:00Z" GIT_COMMITTER_DATE="2025-04-23T00:00:00Z" \
  git -C "$repo.tmp" -c user.name=vtf -c user.email=vtf@localhost commit -q -m "Valkey 8.1.1 (Debian upstream tarball)"
git -C "$repo.tmp" tag 8.1.1
rm -rf "$repo"
mv "$repo.tmp" "$repo"
echo "$repo"
