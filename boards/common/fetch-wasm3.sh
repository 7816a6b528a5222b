#!/usr/bin/env bash
# Puts the wasm3 C sources where the native builds expect them and prints that
# directory. wasm3 is on neither npm nor Debian: its sources ship in the PyPI
# sdist of pywasm3, which we fetch with pip, pin and verify.
#   OUTPOST_WASM3_DIR=/path/to/wasm3   use that checkout instead (its source/ dir,
#                                     or any dir holding wasm3.h and m3_env.c).
set -euo pipefail

version=0.5.0
sha256=5a47c8a39f7f6ae71b3316b2e5d86c9d0db6e771a65f09a86e4d4aa3a19aefcc
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.deps/wasm3"

has_sources() { [ -f "$1/wasm3.h" ] && [ -f "$1/m3_env.c" ]; }

if [ -n "${OUTPOST_WASM3_DIR:-}" ]; then
  for dir in "$OUTPOST_WASM3_DIR" "$OUTPOST_WASM3_DIR/source"; do
    if has_sources "$dir"; then (cd "$dir" && pwd); exit 0; fi
  done
  echo "fetch-wasm3: OUTPOST_WASM3_DIR=$OUTPOST_WASM3_DIR holds no wasm3 sources (wasm3.h, m3_env.c)" >&2
  exit 1
fi

# Already unpacked from the pinned, verified sdist: nothing to do.
if [ "$(cat "$dest/SHA256" 2>/dev/null)" = "$sha256" ] && has_sources "$dest/source"; then
  echo "$dest/source"
  exit 0
fi

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

tarball="$root/.deps/pywasm3-$version.tar.gz"
mkdir -p "$root/.deps"
if [ ! -f "$tarball" ] || [ "$(sha256_of "$tarball")" != "$sha256" ]; then
  download="$(mktemp -d "$root/.deps/download.XXXXXX")"
  trap 'rm -rf "$download"' EXIT
  if command -v pip3 >/dev/null; then pip=(pip3); elif command -v pip >/dev/null; then pip=(pip); else pip=(python3 -m pip); fi
  echo "fetch-wasm3: downloading pywasm3==$version (wasm3 $version sources) with ${pip[*]}" >&2
  "${pip[@]}" download --quiet --no-deps --no-binary :all: "pywasm3==$version" -d "$download" >&2
  got="$(sha256_of "$download/pywasm3-$version.tar.gz")"
  if [ "$got" != "$sha256" ]; then
    echo "fetch-wasm3: SHA-256 MISMATCH for pywasm3-$version.tar.gz" >&2
    echo "  expected $sha256" >&2
    echo "  got      $got" >&2
    exit 1
  fi
  mv "$download/pywasm3-$version.tar.gz" "$tarball"
fi

# Unpack beside, then swap in, so a concurrent or interrupted build never sees half a tree.
staging="$(mktemp -d "$root/.deps/wasm3.XXXXXX")"
tar -xzf "$tarball" -C "$staging" --strip-components=1 "pywasm3-$version/wasm3" "pywasm3-$version/LICENSE"
mv "$staging/wasm3" "$staging/source"
echo "$sha256" > "$staging/SHA256"
echo "wasm3 $version C sources from the PyPI sdist pywasm3==$version (MIT, see LICENSE)" > "$staging/ORIGIN"
rm -rf "$dest"
mv "$staging" "$dest" 2>/dev/null || rm -rf "$staging" # another build won the race
echo "$dest/source"
