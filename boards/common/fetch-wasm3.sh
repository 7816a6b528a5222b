#!/usr/bin/env bash
# Puts the wasm3 C sources where the native builds expect them and prints that
# directory. wasm3 is on neither npm nor Debian: its sources ship in the PyPI
# sdist of pywasm3, which we fetch with pip, pin and verify.
#   OUTPOST_WASM3_DIR=/path/to/wasm3   use that checkout instead (its source/ dir,
#                                     or any dir holding wasm3.h and m3_env.c).
set -euo pipefail
source "$(dirname "$0")/fetch-common.sh"

name=fetch-wasm3
what="wasm3 sources (wasm3.h, m3_env.c)"
version=0.5.0
sha256=5a47c8a39f7f6ae71b3316b2e5d86c9d0db6e771a65f09a86e4d4aa3a19aefcc
dest="$root/.deps/wasm3"
has_sources() { [ -f "$1/wasm3.h" ] && [ -f "$1/m3_env.c" ]; }

serve_override OUTPOST_WASM3_DIR source
serve_cache "$dest/source"
fetch_sdist pywasm3 "$version" --no-binary :all:
staging="$(mktemp -d "$root/.deps/wasm3.XXXXXX")"
tar -xzf "$tarball" -C "$staging" --strip-components=1 "pywasm3-$version/wasm3" "pywasm3-$version/LICENSE"
mv "$staging/wasm3" "$staging/source"
echo "$sha256" > "$staging/SHA256"
echo "wasm3 $version C sources from the PyPI sdist pywasm3==$version (MIT, see LICENSE)" > "$staging/ORIGIN"
install_staged "$staging"
echo "$dest/source"
