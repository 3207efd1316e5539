#!/usr/bin/env bash
# Installs pgvector into the PostgreSQL server the tests use (127.0.0.1:5432 unless PGHOST,
# PGPORT or PGUSER say otherwise), for the semantic cache. Debian bookworm packages pgvector
# only for newer PostgreSQL majors, so this builds Debian's own pgvector source (the same
# tarball the Debian package is built from, checked against its pinned SHA-256) against the
# running server's major version. Idempotent: does nothing when the server already offers
# the extension. Needs root (apt-get, make install); exits non-zero with the reason on any
# failure, since the semantic cache tests need the extension.
set -euo pipefail

PGVECTOR_VERSION=0.8.0
# From Checksums-Sha256 of pgvector_0.8.0-1.dsc in Debian's pool.
PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0

# The Debian mirror apt uses on this machine (the pool's layout is the same on every mirror,
# and the checksum pins the file); DEBIAN_MIRROR overrides it.
debian_mirror() {
  # Missing files and no match are not errors here: the default below applies.
  {
    grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true
  } | grep -oE 'https?://[^ ]+' | grep -E '/debian/?$' | head -n 1 | sed 's:/*$::' || true
}
mirror="${DEBIAN_MIRROR:-$(debian_mirror)}"
mirror="${mirror:-http://deb.debian.org/debian}"
PGVECTOR_URL="${mirror}/pool/main/p/pgvector/pgvector_${PGVECTOR_VERSION}.orig.tar.gz"

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export DEBIAN_FRONTEND=noninteractive

say() { printf '[pgvector] %s\n' "$*"; }
fail() {
  printf '[pgvector] ERROR: %s\n' "$*" >&2
  exit 1
}

query() { psql -X -q -v ON_ERROR_STOP=1 -d postgres -tAc "$1"; }

available() { [ "$(query "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'" 2>/dev/null)" = '1' ]; }

command -v psql >/dev/null 2>&1 || fail 'psql is missing: install postgresql-client first.'
version_num=$(query 'SHOW server_version_num') ||
  fail "cannot query PostgreSQL at ${PGHOST}:${PGPORT} as ${PGUSER}: is it running?"

if available; then
  say "the server at ${PGHOST}:${PGPORT} already offers the vector extension; nothing to do"
else
  [ "$(id -u)" = '0' ] || fail 'building pgvector needs root (apt-get install, make install); run this script as root.'
  major=$((version_num / 10000))
  say "PostgreSQL ${major} (server_version_num ${version_num}); building pgvector ${PGVECTOR_VERSION}"

  say "installing postgresql-server-dev-${major} and a compiler (apt-get)"
  apt-get update -qq || fail 'apt-get update failed: check the network and the apt sources.'
  apt-get install -y -qq --no-install-recommends "postgresql-server-dev-${major}" make gcc >/dev/null ||
    fail "apt-get install postgresql-server-dev-${major} make gcc failed."
  pg_config="/usr/lib/postgresql/${major}/bin/pg_config"
  [ -x "$pg_config" ] || fail "${pg_config} is missing after installing postgresql-server-dev-${major}."

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  say "downloading ${PGVECTOR_URL}"
  curl -fsSL --retry 3 --max-time 120 -o "$work/pgvector.tar.gz" "$PGVECTOR_URL" ||
    fail "downloading ${PGVECTOR_URL} failed."
  echo "${PGVECTOR_SHA256}  $work/pgvector.tar.gz" | sha256sum -c --quiet - ||
    fail "the pgvector tarball does not match its pinned SHA-256 (${PGVECTOR_SHA256}); not installing it."
  tar -xzf "$work/pgvector.tar.gz" -C "$work"

  # with_llvm=no: no JIT bitcode, so no clang is needed; OPTFLAGS empty as Debian builds it,
  # so the library does not depend on this machine's CPU features.
  say 'building (make) and installing (make install)'
  make -s -C "$work/pgvector-${PGVECTOR_VERSION}" PG_CONFIG="$pg_config" with_llvm=no OPTFLAGS='' >/dev/null ||
    fail 'building pgvector failed (see the compiler output above).'
  make -s -C "$work/pgvector-${PGVECTOR_VERSION}" PG_CONFIG="$pg_config" with_llvm=no OPTFLAGS='' install >/dev/null ||
    fail 'make install of pgvector failed.'
  available || fail 'pgvector was installed but the server does not list the vector extension.'
fi

# The proof: the extension creates and computes in a scratch database.
scratch="pgvector_check_$$"
query "CREATE DATABASE ${scratch}" >/dev/null || fail "cannot create the scratch database ${scratch}."
check=$(psql -X -q -v ON_ERROR_STOP=1 -d "$scratch" -tAc \
  "CREATE EXTENSION IF NOT EXISTS vector; SELECT extversion || ' ' || ('[1,0]'::vector <=> '[0,1]'::vector) FROM pg_extension WHERE extname = 'vector'" 2>&1) ||
  {
    query "DROP DATABASE IF EXISTS ${scratch}" >/dev/null 2>&1 || true
    fail "CREATE EXTENSION vector failed: ${check}"
  }
query "DROP DATABASE IF EXISTS ${scratch}" >/dev/null
say "CREATE EXTENSION vector works (version and a cosine distance: ${check})"
