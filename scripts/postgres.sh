#!/usr/bin/env bash
# Starts the local PostgreSQL cluster (Debian's postgresql package) and gives
# the current user a superuser role, so the tests can create a database of
# their own per test at "postgresql://" (the Unix socket). Idempotent.
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "postgres: PostgreSQL is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

cluster=$(pg_lsclusters -h | awk 'NR == 1 { print $1 " " $2 }')
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_createcluster "$version" main >/dev/null
  cluster="$version main"
fi
# shellcheck disable=SC2086
if ! pg_lsclusters -h | awk -v c="$cluster" '$1 " " $2 == c { print $4 }' | grep -q online; then
  pg_ctlcluster $cluster start
fi
for _ in $(seq 1 50); do
  if as_postgres psql -qtAc "SELECT 1" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
user=$(id -un)
if ! as_postgres psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname = '$user'" | grep -q 1; then
  as_postgres createuser --superuser "$user"
fi
echo "postgres: cluster $cluster online, role $user ready"
