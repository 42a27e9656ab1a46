#!/bin/bash
# A PostgreSQL primary with a streaming replica, from Debian's postgresql 15, for the failover
# test and the README's HA recipe: two data directories in one temporary directory, both run
# by pg_ctl as the unprivileged `postgres` user, listening on loopback TCP ports.
#
#   tests/postgres/ha-pair.sh start PRIMARY_PORT REPLICA_PORT   # initdb, start the primary, pg_basebackup -R, start the replica
#   tests/postgres/ha-pair.sh stop-primary                      # stops the primary (-m fast: it sends the replica all its WAL first)
#   tests/postgres/ha-pair.sh promote                           # promotes the replica to primary
#   tests/postgres/ha-pair.sh stop                              # stops both and removes the directory
#
# start prints ROUTERHOSTS_TEST_POSTGRES_URL: both hosts with target_session_attrs=read-write.
# The state file ($ROUTERHOSTS_TEST_POSTGRES_STATE) remembers the directory and ports between calls.
set -euo pipefail

BIN=${ROUTERHOSTS_TEST_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
STATE=${ROUTERHOSTS_TEST_POSTGRES_STATE:?set ROUTERHOSTS_TEST_POSTGRES_STATE to a state file of your own}
RUN_AS=postgres

as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

server_start() { # DATA_DIR PORT
    as_user "$BIN/pg_ctl" -D "$1" -l "$1.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$2 -c unix_socket_directories='$(dirname "$1")' -c max_connections=100" start >/dev/null \
        || { cat "$1.log" >&2; exit 1; }
}

load() { [ -f "$STATE" ] || { echo "ha-pair.sh: not running (run start first)" >&2; exit 1; }; read -r DIR PRIMARY_PORT REPLICA_PORT <"$STATE"; }

start() {
    local primary_port=$1 replica_port=$2 dir
    [ -x "$BIN/initdb" ] || { echo "ha-pair.sh: no PostgreSQL at $BIN (apt-get install postgresql-15)" >&2; exit 1; }
    if [ "$(id -u)" -eq 0 ] && ! id "$RUN_AS" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_AS"
    fi
    dir=$(mktemp -d /tmp/routerhosts-pg-ha.XXXXXX)
    chmod 0755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$RUN_AS" "$dir"
    echo "$dir $primary_port $replica_port" >"$STATE"
    # initdb's pg_hba.conf with --auth=trust lets loopback connect, replication connections included.
    as_user "$BIN/initdb" -D "$dir/primary" -U "$RUN_AS" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    server_start "$dir/primary" "$primary_port"
    # The replica: a base backup of the primary; -R writes primary_conninfo and standby.signal into it.
    as_user "$BIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U "$RUN_AS" -D "$dir/replica" -R -X stream -c fast >/dev/null
    server_start "$dir/replica" "$replica_port"
    # Ready once the primary sees the replica streaming.
    for _ in $(seq 600); do
        [ "$(as_user "$BIN/psql" -h 127.0.0.1 -p "$primary_port" -U "$RUN_AS" -d postgres -Atc \
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] && break
        sleep 0.1
    done
    echo "ROUTERHOSTS_TEST_POSTGRES_URL=postgres://$RUN_AS@127.0.0.1:$primary_port,127.0.0.1:$replica_port/postgres?target_session_attrs=read-write&sslmode=disable"
}

stop() {
    [ -f "$STATE" ] || return 0
    load
    for data in "$DIR/replica" "$DIR/primary"; do
        if [ -f "$data/postmaster.pid" ]; then as_user "$BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    done
    rm -rf "$DIR" "$STATE"
}

case "${1:-}" in
    start) [ $# -eq 3 ] || { echo "usage: $0 start PRIMARY_PORT REPLICA_PORT" >&2; exit 2; }; start "$2" "$3" ;;
    stop-primary) load; as_user "$BIN/pg_ctl" -D "$DIR/primary" -m fast -w stop >/dev/null ;;
    promote) load; as_user "$BIN/pg_ctl" -D "$DIR/replica" -w promote >/dev/null ;;
    stop) stop ;;
    *) echo "usage: $0 start PRIMARY_PORT REPLICA_PORT | stop-primary | promote | stop" >&2; exit 2 ;;
esac
