#!/usr/bin/env bash
# Puts ActiveMQ Artemis (the broker distribution, for test/artemis.test.ts) under .deps/artemis and prints its home.
# It is on Maven Central (org.apache.activemq:apache-artemis, classifier bin): fetched with Maven's own client,
# pinned and verified like the boards' sources (boards/common/fetch-common.sh). Needs Java 17 and mvn.
#   OUTPOST_ARTEMIS_HOME=/path   use that installation instead (a dir holding bin/artemis).
set -euo pipefail
source "$(dirname "$0")/../../boards/common/fetch-common.sh"

name=fetch-artemis
what="an Artemis installation (bin/artemis)"
version=2.40.0
sha256=3add67e7b0af89f81eac1e6c577427b049b4e7502fb278c591838465d5ca93b5
dest="$root/.deps/artemis"
has_sources() { [ -x "$1/bin/artemis" ] && [ -d "$1/lib" ]; }

serve_override OUTPOST_ARTEMIS_HOME
serve_cache "$dest/apache-artemis-$version"
command -v mvn >/dev/null || { echo "$name: needs mvn (Debian: maven), or OUTPOST_ARTEMIS_HOME" >&2; exit 1; }
mkdir -p "$root/.deps"
download="$(mktemp -d "$root/.deps/download.XXXXXX")"
trap 'rm -rf "$download"' EXIT
echo "$name: fetching org.apache.activemq:apache-artemis:$version (bin) with mvn" >&2
mvn -q dependency:copy "-Dartifact=org.apache.activemq:apache-artemis:$version:tar.gz:bin" "-DoutputDirectory=$download" >&2
tarball="$download/apache-artemis-$version-bin.tar.gz"
check_sha256 "$tarball"
staging="$(mktemp -d "$root/.deps/artemis.XXXXXX")"
tar -xzf "$tarball" -C "$staging"
echo "$sha256" > "$staging/SHA256"
install_staged "$staging"
echo "$dest/apache-artemis-$version"
