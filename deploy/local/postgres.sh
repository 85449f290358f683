#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests and local runs (Debian's postgresql-15 binaries),
# separate from any system cluster.
#
# Usage: deploy/local/postgres.sh start|stop|status|destroy
#   start    initdb on first use, start, create role+db `newswire`, wait for pg_isready.
#            A no-op (apart from re-checking the role/db) when already running.
#   stop     fast shutdown; a no-op when stopped, so it is safe in a `trap ... EXIT`.
#   status   exit 0 when running, 3 when stopped.
#   destroy  stop and delete the cluster (next start runs initdb again).
#
# Where the data lives: .local/pg/ at the repo root: data/ (PGDATA), run/ (unix socket),
# postgresql.log (server log). The cluster persists across stop/start; `destroy` resets it.
#
# Running as root (CI does): PostgreSQL refuses to run as root, so initdb/pg_ctl run as the
# `postgres` system user (created by the Debian package) via runuser, and .local/pg is owned by
# it. That user must be able to traverse every directory down to .local/; a checkout under /root
# (mode 0700) is not traversable. Rather than loosen permissions on directories we do not own,
# the cluster then lives in /tmp/newswire-pg-<hash of the repo path> and .local/pg is a symlink
# to it. The same fallback applies when the socket path would exceed the 107-byte unix socket
# limit.
#
# Authentication: TCP (127.0.0.1 only) uses scram-sha-256, role `newswire` password `newswire`,
# so the DSN in .local/env exercises real password auth as in production. The unix socket uses
# trust; it sits in run/ under a directory only the cluster owner (and root) can enter, and is
# how this script administers the cluster as superuser `postgres`.
#
# Environment (defaults in brackets):
#   NW_PG_PORT [55432]         TCP port on 127.0.0.1 (and the socket's name)
#   NW_PG_BIN [/usr/lib/postgresql/15/bin]
#   NW_PG_FSYNC [on]           `off` trades durability for speed; ingest benchmarks need on
#   NW_PG_SHARED_BUFFERS [1GB] PostgreSQL's shared_buffers
#   NW_PG_START_TIMEOUT [60]   seconds
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NW_LOG_TAG=postgres

PORT=${NW_PG_PORT:-55432}
PG_BIN=${NW_PG_BIN:-/usr/lib/postgresql/15/bin}
FSYNC=${NW_PG_FSYNC:-on}
SHARED_BUFFERS=${NW_PG_SHARED_BUFFERS:-1GB}
START_TIMEOUT=${NW_PG_START_TIMEOUT:-60}
DB_NAME=newswire
DB_USER=newswire
DB_PASSWORD=newswire

[[ $PORT =~ ^[0-9]+$ ]] || die "NW_PG_PORT must be a number, got '$PORT'"
[[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "NW_PG_START_TIMEOUT must be a number"
[[ $FSYNC == on || $FSYNC == off ]] || die "NW_PG_FSYNC must be on or off, got '$FSYNC'"
[[ -x $PG_BIN/pg_ctl ]] || die "no PostgreSQL binaries in $PG_BIN (apt-get install postgresql-15; or run deploy/local/install-deps.sh)"

# Who runs the server. As root: the postgres system user; otherwise: ourselves.
if ((EUID == 0)); then
  id -u postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user (it comes with the postgresql-15 package)"
  PG_OWNER=postgres
  as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
  PG_OWNER=$(id -un)
  as_owner() { (cd / && "$@"); }
fi

LINK=$NW_STATE_DIR/pg
FALLBACK=/tmp/newswire-pg-$(printf '%s' "$NW_REPO_ROOT" | sha256sum | cut -c1-12)
SOCKET_SUFFIX=/run/.s.PGSQL.$PORT

# Pick the cluster directory once; afterwards .local/pg (a dir or a symlink) remembers it.
resolve_dir() {
  if [[ -L $LINK ]]; then
    PG_DIR=$(readlink -- "$LINK")
    return
  fi
  if [[ -d $LINK ]]; then
    PG_DIR=$LINK
    return
  fi
  PG_DIR=$LINK
  if ((EUID == 0)) && ! runuser -u postgres -- test -x "$NW_STATE_DIR" 2>/dev/null; then
    PG_DIR=$FALLBACK
  fi
  if ((${#PG_DIR} + ${#SOCKET_SUFFIX} > 100)); then
    PG_DIR=$FALLBACK
  fi
}

# Create the cluster directory (and the .local/pg link to it when it lives in /tmp).
make_dir() {
  if [[ ! -d $PG_DIR ]]; then
    mkdir -m 0700 "$PG_DIR"
    if ((EUID == 0)); then chown postgres:postgres "$PG_DIR"; fi
  fi
  # /tmp is world-writable: never adopt a directory someone else created there.
  local owner
  owner=$(stat -c %U "$PG_DIR")
  [[ $owner == "$PG_OWNER" ]] || die "$PG_DIR is owned by '$owner', expected '$PG_OWNER' (a cluster created as another user? try: $0 destroy as that user, or remove it)"
  if [[ $PG_DIR != "$LINK" && ! -e $LINK ]]; then
    ln -sfn "$PG_DIR" "$LINK"
  fi
  as_owner mkdir -p "$PG_DIR/run"
}

mkdir -p "$NW_STATE_DIR"
resolve_dir
DATA=$PG_DIR/data
RUN=$PG_DIR/run
LOGFILE=$PG_DIR/postgresql.log

running() {
  [[ -f $DATA/PG_VERSION ]] || return 1
  as_owner "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# Superuser session over the unix socket (trust). -X: ignore any ~/.psqlrc.
psql_admin() {
  as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PORT" -U postgres -d postgres
}

write_config() {
  # Regenerated on every start so a changed NW_PG_PORT/NW_PG_FSYNC takes effect;
  # postgresql.conf only includes it (appended once, after initdb).
  {
    cat <<EOF
# Written by deploy/local/postgres.sh on every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$RUN'
max_connections = 100
shared_buffers = $SHARED_BUFFERS
# fsync stays on by default: ingest throughput is measured against a durable database.
fsync = $FSYNC
# stderr goes to the log file given to pg_ctl -l.
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
log_min_error_statement = error
EOF
    cat "$NW_LOCAL_DIR/postgresql-ingest.conf"
  } | as_owner tee "$DATA/newswire.conf" >/dev/null
}

cmd_init() {
  log "initdb in $DATA"
  local pwlog=$PG_DIR/initdb.log
  # Trust at initdb time (initdb refuses scram without a superuser password); the real
  # pg_hba.conf is written right after.
  if ! as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=trust >"$pwlog" 2>&1; then
    cat "$pwlog" >&2
    as_owner rm -rf "$DATA"
    die "initdb failed (see above)"
  fi
  echo "include_if_exists = 'newswire.conf'" | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
  as_owner tee "$DATA/pg_hba.conf" >/dev/null <<'EOF'
# Written by deploy/local/postgres.sh.
# TYPE  DATABASE  USER  ADDRESS        METHOD
# The socket directory is private to the cluster owner: admin access for this script.
local   all       all                  trust
# Clients (tests, the service) use TCP on loopback with a password.
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF
}

ensure_db() {
  # Idempotent: role and database are created only when missing. CREATEDB lets tests create
  # throw-away databases; contrib extensions the schema may use (pg_trgm, unaccent, ...) are
  # "trusted", so the database owner can create them without superuser.
  psql_admin <<EOF
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$DB_USER', '$DB_PASSWORD')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$DB_NAME', '$DB_USER')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \\gexec
EOF
}

wait_ready() {
  local t0=$SECONDS
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d "$DB_NAME" -U "$DB_USER"; do
    if ((SECONDS - t0 >= START_TIMEOUT)); then
      show_log_tail "$LOGFILE"
      die "pg_isready still failing after ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
}

cmd_start() {
  if running; then
    ensure_db
    wait_ready
    log "already running on 127.0.0.1:$PORT (data $DATA)"
    return 0
  fi
  if port_in_use "$PORT"; then
    port_owner "$PORT" >&2
    die "port $PORT is already in use by another process; stop it or set NW_PG_PORT"
  fi
  make_dir
  [[ -f $DATA/PG_VERSION ]] || cmd_init
  write_config
  local t0=$SECONDS
  # -w waits until the server accepts connections (or fails).
  if ! as_owner "$PG_BIN/pg_ctl" start -D "$DATA" -l "$LOGFILE" -w -t "$START_TIMEOUT" -s; then
    show_log_tail "$LOGFILE"
    die "pg_ctl start failed"
  fi
  ensure_db
  wait_ready
  log "started on 127.0.0.1:$PORT in $((SECONDS - t0))s (data $DATA, log $LOGFILE)"
}

cmd_stop() {
  running || return 0
  # fast: roll back open transactions and disconnect clients instead of waiting for them.
  if ! as_owner "$PG_BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 -s; then
    log "fast shutdown timed out; using immediate"
    as_owner "$PG_BIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 30 -s || true
  fi
  log "stopped"
}

cmd_status() {
  if running; then
    echo "postgres: running on 127.0.0.1:$PORT (data $DATA)"
    return 0
  fi
  echo "postgres: stopped"
  return 3
}

cmd_destroy() {
  cmd_stop
  if [[ -d $PG_DIR ]]; then
    rm -rf -- "$PG_DIR"
    log "removed $PG_DIR"
  fi
  if [[ -L $LINK ]]; then rm -f -- "$LINK"; fi
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  destroy) cmd_destroy ;;
  *)
    echo "usage: $0 start|stop|status|destroy" >&2
    exit 2
    ;;
esac
