#!/usr/bin/env bash
# A throw-away PostgreSQL server on localhost for the tuning tests.
#
#   eval "$(scripts/postgres-test-server.sh start)"   # installs, starts, exports ONESHOT_TEST_POSTGRES
#   scripts/postgres-test-server.sh stop              # stops it and removes its files
#
# Installs Debian's postgresql package when no server binaries are found,
# creates a cluster in $ONESHOT_PG_DIR (default /tmp/oneshot-postgres) owned by
# the postgres user, listening on localhost:$ONESHOT_PG_PORT (default 54329)
# with trust authentication, and a database oneshot_test. Only the export line
# goes to stdout; progress goes to stderr.
set -euo pipefail
DIR=${ONESHOT_PG_DIR:-/tmp/oneshot-postgres}
PORT=${ONESHOT_PG_PORT:-54329}
DB=oneshot_test
ACTION=${1:-start}

log() { echo "postgres-test-server: $*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

PGBIN=$(find_bin || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  [ "$ACTION" = stop ] && exit 0
  log "installing Debian's postgresql"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
  PGBIN=$(find_bin)
fi

# The server refuses to run as root: run its tools as the postgres user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$ACTION" in
  start)
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
      log "creating a cluster in $DIR"
      rm -rf "$DIR"
      mkdir -p "$DIR"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DIR"
      as_owner "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      log "starting on localhost:$PORT"
      as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-p $PORT -k $DIR -c listen_addresses=localhost -c fsync=off -c max_connections=200" start >&2 ||
        { cat "$DIR/server.log" >&2; exit 1; }
    fi
    if ! as_owner "$PGBIN/psql" -h localhost -p "$PORT" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" postgres | grep -q 1; then
      as_owner "$PGBIN/createdb" -h localhost -p "$PORT" -U postgres "$DB" >&2
    fi
    echo "export ONESHOT_TEST_POSTGRES=postgresql://postgres@localhost:$PORT/$DB"
    ;;
  stop)
    if [ -f "$DIR/data/PG_VERSION" ]; then
      as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
      rm -rf "$DIR"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
