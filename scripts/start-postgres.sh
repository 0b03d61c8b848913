#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for Sluice's database tests and prints its URL.
#
#   scripts/start-postgres.sh DATA_DIR PORT   initdb into DATA_DIR (if empty), start on
#                                             127.0.0.1:PORT, create database sluice_test,
#                                             print postgresql://sluicetest:sluicetest@127.0.0.1:PORT/sluice_test
#   scripts/start-postgres.sh stop DATA_DIR   stop the server that runs on DATA_DIR
#
# PostgreSQL refuses to run as root: when run as root, the server runs as the system user
# `sluicetest` (created when missing), so DATA_DIR's parent must be searchable by it. The
# superuser is `sluicetest` with password `sluicetest` (scram-sha-256, also over the unix
# socket, whose directory is /tmp). Installs Debian's `postgresql` when its binaries are missing.
set -euo pipefail

PG_USER=sluicetest
PG_PASSWORD=sluicetest

find_bindir() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/pg_ctl" ]; then
    echo "$d"
  fi
}

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
  echo "PostgreSQL not found; installing Debian's postgresql" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else
    sudo apt-get update -qq >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  bindir=$(find_bindir)
  [ -n "$bindir" ] || { echo "PostgreSQL binaries still missing after install" >&2; exit 1; }
fi

# Runs a command as the server's user (root cannot run PostgreSQL).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = "stop" ]; then
  dir=${2:?usage: $0 stop DATA_DIR}
  [ -f "$dir/PG_VERSION" ] || { echo "no PostgreSQL data directory at $dir" >&2; exit 1; }
  as_pg "$bindir/pg_ctl" -D "$dir" -m fast -w stop >&2
  exit 0
fi

dir=${1:?usage: $0 DATA_DIR PORT | $0 stop DATA_DIR}
port=${2:?usage: $0 DATA_DIR PORT}

if [ "$(id -u)" = 0 ]; then
  if ! id "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
  parent=$(dirname "$(readlink -m "$dir")")
  if ! runuser -u "$PG_USER" -- test -x "$parent"; then
    echo "$parent is not searchable by $PG_USER; use a directory it can reach (chmod 755)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  chown "$PG_USER" "$dir"
  chmod 700 "$dir"
else
  mkdir -p "$dir"
  PG_USER=$(id -un)
fi

if [ ! -f "$dir/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  chmod 644 "$pwfile"
  as_pg "$bindir/initdb" -D "$dir" -U "$PG_USER" --pwfile="$pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 || {
    rm -f "$pwfile"; cat "$dir.initdb.log" >&2; exit 1; }
  rm -f "$pwfile"
  fresh=1
else
  fresh=0
fi

as_pg "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" start >&2 || {
  cat "$dir/server.log" >&2 || true; exit 1; }

if [ "$fresh" = 1 ]; then
  PGPASSWORD=$PG_PASSWORD "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE DATABASE sluice_test" >&2
fi

echo "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/sluice_test"
