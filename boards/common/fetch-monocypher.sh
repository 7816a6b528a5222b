#!/usr/bin/env bash
# Puts Monocypher's C sources (monocypher.c/.h: its Ed25519 verification equation and scalar
# reduction, boards/common/outpost_ed25519.c) where the board builds expect them and prints
# that directory. Monocypher is on neither npm nor the Arm toolchain: its sources ship in the
# PyPI sdist of pymonocypher, which we fetch with pip, pin and verify, as fetch-wasm3.sh does.
#   OUTPOST_MONOCYPHER_DIR=/path   use that directory instead (it must hold monocypher.c/.h).
set -euo pipefail
source "$(dirname "$0")/fetch-common.sh"

name=fetch-monocypher
what="Monocypher 4.0.3 sources (monocypher.c/.h)"
version=4.0.3.4 # Monocypher 4.0.3
sha256=5e56e3d3eb770a53e0b9f6274146663c11a11f3d0de5cd48e3be0428d1b07a4a
dest="$root/.deps/monocypher"
has_sources() { [ -f "$1/monocypher.h" ] && [ -f "$1/monocypher.c" ]; }

serve_override OUTPOST_MONOCYPHER_DIR
serve_cache "$dest/source"
# --no-binary for this package only: its build dependencies come as wheels (pip prepares its metadata).
fetch_sdist pymonocypher "$version" --no-binary pymonocypher
staging="$(mktemp -d "$root/.deps/monocypher.XXXXXX")"
mkdir -p "$staging/source"
tar -xzf "$tarball" -C "$staging/source" --strip-components=1 "pymonocypher-$version/monocypher.c" "pymonocypher-$version/monocypher.h" \
  "pymonocypher-$version/LICENSE.txt"
echo "$sha256" > "$staging/SHA256"
echo "Monocypher 4.0.3 C sources from the PyPI sdist pymonocypher==$version (BSD-2-Clause or CC0, see source/LICENSE.txt)" > "$staging/ORIGIN"
install_staged "$staging"
echo "$dest/source"
