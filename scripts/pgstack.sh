#!/usr/bin/env bash
# pgstack.sh — a throwaway PostgreSQL cluster on loopback for Mailer's multi-machine tests and CI,
# plus haproxy (installed only: each test writes its own haproxy configuration for its servers).
#
# Everything a running cluster writes (data, socket, log, pid) lives under one directory DIR;
# nothing in /etc is changed (but for install telling postgresql-common not to create its main
# cluster) and the distribution's own cluster is never created or started.
#
#   scripts/pgstack.sh install          # Debian packages postgresql + haproxy, no daemons started
#   scripts/pgstack.sh start DIR        # initdb (first time), start; writes DIR/pg.env when ready
#   scripts/pgstack.sh stop DIR         # idempotent
#   scripts/pgstack.sh restart DIR      # fast shutdown + start (tests: the database goes away)
#   scripts/pgstack.sh status DIR
set -euo pipefail

readonly PACKAGES=(postgresql haproxy)
readonly DB_NAME="mailer" DB_USER="mailer" DB_PASSWORD="mailer-secret-1"
# a role that may log in but not create anything: the permission error a person must understand
readonly NOPRIV_USER="mailer_nopriv" NOPRIV_PASSWORD="nopriv-secret-1"
PORT="${PGSTACK_PORT:-15432}"
READY_TIMEOUT="${PGSTACK_READY_TIMEOUT:-30}"  # seconds

usage() {
  cat <<USAGE
Usage: $0 COMMAND [DIR]

  install       install ${PACKAGES[*]} from Debian without starting their daemons (fast when
                installed already)
  start DIR     create a cluster in DIR/data the first time (initdb), start it on 127.0.0.1:$PORT
                and write DIR/pg.env once it accepts logins
  stop DIR      stop it (idempotent)
  restart DIR   stop (fast: sessions are cut) and start again
  status DIR    exit 0 when it runs

DIR: an absolute path that the postgres user can traverse (so not under /root), e.g. /tmp/pgstack.
Port: PGSTACK_PORT=$PORT. Database $DB_NAME, owner $DB_USER / $DB_PASSWORD; $NOPRIV_USER /
$NOPRIV_PASSWORD may log in but create nothing.
USAGE
}

die() { echo "pgstack: $*" >&2; exit 1; }
trap '' PIPE
say() { echo "pgstack: $*" 2>/dev/null || true; }
need_root() { [[ $EUID -eq 0 ]] || die "must run as root (the cluster runs as the postgres user)"; }

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }; done
  return 1
}

cmd_install() {
  need_root
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then missing+=("$pkg"); fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then say "already installed: ${PACKAGES[*]}"; return 0; fi
  say "installing: ${missing[*]}"
  # keep dpkg from starting the distribution's cluster and haproxy (see mailstack.sh)
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    MADE_POLICY=1
    trap '[[ ${MADE_POLICY:-0} -eq 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\n# temporary, from scripts/pgstack.sh install\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  # no main cluster in /var/lib/postgresql: we bring our own
  mkdir -p /etc/postgresql-common
  grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf \
    || echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q -o DPkg::Lock::Timeout=300 </dev/null
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" </dev/null
  if [[ ${MADE_POLICY:-0} -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; MADE_POLICY=0; fi
  say "installed: ${PACKAGES[*]}"
}

resolve_dir() {
  [[ -n "${1:-}" ]] || { usage >&2; exit 2; }
  [[ "$1" = /* ]] || die "DIR must be an absolute path: '$1'"
  [[ "$1" =~ ^[A-Za-z0-9._/-]+$ && ${#1} -lt 60 ]] || die "DIR must be under 60 characters of [A-Za-z0-9._/-]: '$1'"
  DIR="$1"
  DATA="$DIR/data"
  ENV_FILE="$DIR/pg.env"
  LOG="$DIR/postgres.log"
}

as_pg() { runuser -u postgres -- "$@"; }

running() { [[ -s "$DATA/postmaster.pid" ]] && kill -0 "$(head -1 "$DATA/postmaster.pid")" 2>/dev/null; }

init_cluster() {
  local bin="$1"
  mkdir -p "$DIR"; chmod 755 "$DIR"; chown postgres: "$DIR"
  as_pg "$bin/initdb" -D "$DATA" -U postgres -A trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  cat >>"$DATA/postgresql.conf" <<CONF
# pgstack.sh: loopback only, socket in DIR, small and quick
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
shared_buffers = 128MB
fsync = on
synchronous_commit = on
logging_collector = off
log_min_messages = warning
CONF
  # local socket: trust (this script creates the roles); TCP: passwords
  printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' > "$DATA/pg_hba.conf"
  chown postgres: "$DATA/pg_hba.conf"
}

create_roles() {
  local bin="$1" psql=(psql -h "$DIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -q -d postgres)
  as_pg "${psql[@]}" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$NOPRIV_USER') THEN CREATE ROLE $NOPRIV_USER LOGIN PASSWORD '$NOPRIV_PASSWORD'; END IF;
END \$\$;
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
  # the unprivileged role may connect to the database but not create tables in it
  as_pg "${psql[@]}" -d "$DB_NAME" -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC; ALTER SCHEMA public OWNER TO $DB_USER;"
}

write_env() {
  local tmp="$ENV_FILE.tmp"
  cat > "$tmp" <<ENV
PGSTACK_DIR=$DIR
PGSTACK_PORT=$PORT
PGSTACK_BIN=$1
PGSTACK_URL=postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB_NAME
PGSTACK_NOPRIV_URL=postgres://$NOPRIV_USER:$NOPRIV_PASSWORD@127.0.0.1:$PORT/$DB_NAME
PGSTACK_ADMIN_URL=postgres://postgres@127.0.0.1:$PORT/postgres?host=$DIR
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
ENV
  chmod 644 "$tmp"
  mv "$tmp" "$ENV_FILE"
}

start_cluster() {
  local bin="$1"
  as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$READY_TIMEOUT" start </dev/null >/dev/null \
    || { tail -20 "$LOG" >&2; die "postgres did not start (log: $LOG)"; }
}

cmd_start() {
  need_root
  resolve_dir "$1"
  local bin; bin="$(pg_bin)" || die "PostgreSQL is not installed: run '$0 install' first"
  rm -f "$ENV_FILE"
  if [[ ! -s "$DATA/PG_VERSION" ]]; then
    [[ -e "$DIR" && -n "$(ls -A "$DIR" 2>/dev/null)" ]] && die "'$DIR' exists, is not empty and holds no cluster: refusing to write into it"
    init_cluster "$bin"
  fi
  if running; then say "already running in $DIR"; else start_cluster "$bin"; fi
  create_roles "$bin"
  write_env "$bin"
  say "ready — 127.0.0.1:$PORT database $DB_NAME (user $DB_USER), env file $ENV_FILE, log $LOG"
}

cmd_stop() {
  need_root
  resolve_dir "$1"
  rm -f "$ENV_FILE"
  local bin; bin="$(pg_bin)" || { say "not installed"; return 0; }
  if running; then as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; say "stopped ($DIR)"; else say "not running in $DIR"; fi
}

cmd_restart() {
  need_root
  resolve_dir "$1"
  local bin; bin="$(pg_bin)" || die "PostgreSQL is not installed"
  as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w -l "$LOG" restart </dev/null >/dev/null || die "restart failed (log: $LOG)"
  say "restarted ($DIR)"
}

cmd_status() {
  resolve_dir "$1"
  if running; then say "running in $DIR (pid $(head -1 "$DATA/postmaster.pid"))"; else say "not running in $DIR"; return 1; fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  restart) cmd_restart "${2:-}" ;;
  status) cmd_status "${2:-}" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
