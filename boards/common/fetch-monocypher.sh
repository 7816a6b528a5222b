#!/usr/bin/env bash
# Puts Monocypher's C sources (monocypher.c/.h: its Ed25519 verification equation and scalar
# reduction, boards/common/outpost_ed25519.c) where the board builds expect them and prints
# that directory. Monocypher is on neither npm nor the Arm toolchain: its sources ship in the
# PyPI sdist of pymonocypher, which we fetch with pip, pin and verify, as fetch-wasm3.sh does.
#   OUTPOST_MONOCYPHER_DIR=/path   use that directory instead (it must hold monocypher.c/.h).
set -euo pipefail

version=4.0.3.4 # Monocypher 4.0.3
sha256=5e56e3d3eb770a53e0b9f6274146663c11a11f3d0de5cd48e3be0428d1b07a4a
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.deps/monocypher"

has_sources() { [ -f "$1/monocypher.h" ] && [ -f "$1/monocypher.c" ]; }

if [ -n "${OUTPOST_MONOCYPHER_DIR:-}" ]; then
  if has_sources "$OUTPOST_MONOCYPHER_DIR"; then (cd "$OUTPOST_MONOCYPHER_DIR" && pwd); exit 0; fi
  echo "fetch-monocypher: OUTPOST_MONOCYPHER_DIR=$OUTPOST_MONOCYPHER_DIR holds no monocypher.c/.h" >&2
  exit 1
fi
if [ "$(cat "$dest/SHA256" 2>/dev/null)" = "$sha256" ] && has_sources "$dest/source"; then
  echo "$dest/source"
  exit 0
fi

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

tarball="$root/.deps/pymonocypher-$version.tar.gz"
mkdir -p "$root/.deps"
if [ ! -f "$tarball" ] || [ "$(sha256_of "$tarball")" != "$sha256" ]; then
  download="$(mktemp -d "$root/.deps/download.XXXXXX")"
  trap 'rm -rf "$download"' EXIT
  if command -v pip3 >/dev/null; then pip=(pip3); elif command -v pip >/dev/null; then pip=(pip); else pip=(python3 -m pip); fi
  echo "fetch-monocypher: downloading pymonocypher==$version (Monocypher 4.0.3 sources) with ${pip[*]}" >&2
  # --no-binary for this package only: its build dependencies come as wheels (pip prepares its metadata).
  "${pip[@]}" download --quiet --no-deps --no-binary pymonocypher "pymonocypher==$version" -d "$download" >&2
  got="$(sha256_of "$download/pymonocypher-$version.tar.gz")"
  if [ "$got" != "$sha256" ]; then
    echo "fetch-monocypher: SHA-256 MISMATCH for pymonocypher-$version.tar.gz" >&2
    echo "  expected $sha256" >&2
    echo "  got      $got" >&2
    exit 1
  fi
  mv "$download/pymonocypher-$version.tar.gz" "$tarball"
fi

staging="$(mktemp -d "$root/.deps/monocypher.XXXXXX")"
mkdir -p "$staging/source"
tar -xzf "$tarball" -C "$staging/source" --strip-components=1 "pymonocypher-$version/monocypher.c" "pymonocypher-$version/monocypher.h" \
  "pymonocypher-$version/LICENSE.txt"
echo "$sha256" > "$staging/SHA256"
echo "Monocypher 4.0.3 C sources from the PyPI sdist pymonocypher==$version (BSD-2-Clause or CC0, see source/LICENSE.txt)" > "$staging/ORIGIN"
rm -rf "$dest"
mv "$staging" "$dest" 2>/dev/null || rm -rf "$staging"
echo "$dest/source"
