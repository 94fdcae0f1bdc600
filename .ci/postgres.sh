#!/usr/bin/env bash
# Starts the local PostgreSQL 15 cluster for the store tests (idempotent, run
# as root), sets the `postgres` role's password, waits until it accepts
# connections, and prints the TEST_DATABASE_URL to export.
#
#   eval "$(bash .ci/postgres.sh)"    # exports TEST_DATABASE_URL
set -euo pipefail

PGVER=15
PASSWORD=postgres
URL="postgres://postgres:${PASSWORD}@127.0.0.1:5432/postgres"

log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing postgresql"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
fi

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "${PGVER} main"; then
    # A fresh install of another major version: use whichever cluster exists.
    PGVER=$(pg_lsclusters -h | awk 'NR==1{print $1}')
    if [ -z "${PGVER}" ]; then
        log "no PostgreSQL cluster found; creating one"
        PGVER=$(ls /usr/lib/postgresql | sort -n | tail -1)
        pg_createcluster "${PGVER}" main >&2
    fi
fi

if ! pg_lsclusters -h | awk -v v="${PGVER}" '$1==v && $2=="main"{print $4}' | grep -q online; then
    log "starting cluster ${PGVER}/main"
    pg_ctlcluster "${PGVER}" main start >&2
fi

for _ in $(seq 1 60); do
    if pg_isready -h 127.0.0.1 -p 5432 -q; then
        break
    fi
    sleep 0.5
done
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    log "PostgreSQL did not become ready"
    exit 1
fi

su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD '${PASSWORD}'\"" >&2

echo "export TEST_DATABASE_URL=${URL}"
