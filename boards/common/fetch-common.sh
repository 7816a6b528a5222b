# Sourced by the fetch-*.sh scripts. Each one pins a source package, checks its SHA-256, unpacks what the builds
# need under .deps/ and prints that directory. The caller sets `name` (for messages), `what` (what the sources
# are), `sha256`, `dest` and a `has_sources DIR` function, then calls these.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# With the environment variable $1 set: that directory (or one of the subdirectories named after it) and exit.
serve_override() {
  local var="$1" dir sub
  shift
  [ -n "${!var:-}" ] || return 0
  for sub in "" "$@"; do
    dir="${!var}${sub:+/$sub}"
    if has_sources "$dir"; then (cd "$dir" && pwd); exit 0; fi
  done
  echo "$name: $var=${!var} holds no $what" >&2
  exit 1
}

# Already unpacked from the pinned, verified package ($1: where its sources are): print that and exit.
serve_cache() {
  if [ "$(cat "$dest/SHA256" 2>/dev/null)" = "$sha256" ] && has_sources "$1"; then echo "$1"; exit 0; fi
}

# Exits unless file $1 has the pinned SHA-256.
check_sha256() {
  local got
  got="$(sha256_of "$1")"
  [ "$got" = "$sha256" ] && return 0
  printf '%s: SHA-256 MISMATCH for %s\n  expected %s\n  got      %s\n' "$name" "$(basename "$1")" "$sha256" "$got" >&2
  exit 1
}

# The PyPI sdist $1==$2 as .deps/$1-$2.tar.gz, downloaded with pip if it is not there verified; sets `tarball`.
# More arguments go to `pip download`.
fetch_sdist() {
  local package="$1" version="$2"
  shift 2
  tarball="$root/.deps/$package-$version.tar.gz"
  mkdir -p "$root/.deps"
  [ -f "$tarball" ] && [ "$(sha256_of "$tarball")" = "$sha256" ] && return 0
  download="$(mktemp -d "$root/.deps/download.XXXXXX")"
  trap 'rm -rf "$download"' EXIT
  local pip
  if command -v pip3 >/dev/null; then pip=(pip3); elif command -v pip >/dev/null; then pip=(pip); else pip=(python3 -m pip); fi
  echo "$name: downloading $package==$version ($what) with ${pip[*]}" >&2
  "${pip[@]}" download --quiet --no-deps "$@" "$package==$version" -d "$download" >&2
  check_sha256 "$download/$package-$version.tar.gz"
  mv "$download/$package-$version.tar.gz" "$tarball"
}

# Swaps the finished directory $1 in as $dest, so a concurrent or interrupted build never sees half a tree.
install_staged() {
  rm -rf "$dest"
  mv "$1" "$dest" 2>/dev/null || rm -rf "$1" # another build won the race
}
