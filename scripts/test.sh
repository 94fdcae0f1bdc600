#!/usr/bin/env bash
# The test command from the README: every test of every crate, on SQLite and,
# when TEST_DATABASE_URL names a PostgreSQL server, on PostgreSQL too.
# Without TEST_DATABASE_URL it starts the local PostgreSQL cluster itself
# (as CI does) so the PostgreSQL half never silently goes missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/linkguard-target}"
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  eval "$(bash .ci/postgres.sh)"
  export TEST_DATABASE_URL
fi
cargo test --workspace
