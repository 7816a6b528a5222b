#!/usr/bin/env bash
# Puts mbedTLS 2.28 sources (include/, library/) where a cross build expects them and prints that directory.
# Debian's libmbedtls-dev serves the POSIX board; an MCU build needs the sources, which ship vendored in the
# crates.io crate mbedtls-sys-auto: fetched with cargo (its ordinary client), pinned and verified, as
# fetch-wasm3.sh does for wasm3 with pip.
#   OUTPOST_MBEDTLS_DIR=/path/to/mbedtls   use that checkout instead (a dir holding include/mbedtls and library/).
set -euo pipefail
source "$(dirname "$0")/fetch-common.sh"

name=fetch-mbedtls
what="mbedTLS sources (include/mbedtls, library/)"
crate=mbedtls-sys-auto
version=2.28.15 # vendors mbedTLS 2.28.10
sha256=2fdbd15978db1dec7592cf8864094bcf6f7a101d7f84af15c2423967079982c1
dest="$root/.deps/mbedtls"
has_sources() { [ -f "$1/include/mbedtls/ssl.h" ] && [ -f "$1/library/ssl_tls.c" ]; }

serve_override OUTPOST_MBEDTLS_DIR
serve_cache "$dest"
command -v cargo >/dev/null || { echo "$name: needs cargo (https://rustup.rs), or OUTPOST_MBEDTLS_DIR" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/outpost-mbedtls.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
printf '[package]\nname = "outpost-mbedtls-fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = { version = "=%s", default-features = false }\n' \
  "$crate" "$version" > "$work/Cargo.toml"
echo 'fn main() {}' > "$work/src/main.rs"
echo "$name: fetching $crate $version with cargo" >&2
(cd "$work" && cargo fetch --quiet >&2)
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
archive="$(ls "$cargo_home"/registry/cache/*/"$crate-$version.crate" 2>/dev/null | head -n1)"
[ -n "$archive" ] || { echo "$name: cargo fetched no $crate-$version.crate" >&2; exit 1; }
check_sha256 "$archive"
staging="$work/staging"
mkdir -p "$staging"
tar -xzf "$archive" -C "$work" "$crate-$version/vendor/include" "$crate-$version/vendor/library" "$crate-$version/vendor/LICENSE"
mv "$work/$crate-$version/vendor/"* "$staging/"
echo "$sha256" > "$staging/SHA256"
install_staged "$staging"
echo "$dest"
