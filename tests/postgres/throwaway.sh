#!/bin/bash
# A throwaway PostgreSQL for the tests, from Debian's postgresql 15 on this machine:
# initdb in a temporary directory, run by pg_ctl as the unprivileged `postgres` user,
# listening only on a Unix socket in that directory (no TCP).
#
#   tests/postgres/throwaway.sh start   # starts it; prints ROUTERHOSTS_TEST_POSTGRES_URL=...
#   tests/postgres/throwaway.sh env     # prints the variable again (for eval / $GITHUB_ENV-like use)
#   tests/postgres/throwaway.sh stop    # stops it and removes the directory
#   tests/postgres/throwaway.sh halt    # fault tests: stops the server at once (-m immediate), keeping its data
#   tests/postgres/throwaway.sh resume  # starts the halted server again
#   tests/postgres/throwaway.sh crash   # fault tests: kill -9 of the server and all its processes at once, keeping its data
#
# The state file (default /tmp/routerhosts-throwaway-postgres.state, or $ROUTERHOSTS_TEST_POSTGRES_STATE)
# remembers the directory between the calls.
set -euo pipefail

BIN=${ROUTERHOSTS_TEST_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
STATE=${ROUTERHOSTS_TEST_POSTGRES_STATE:-/tmp/routerhosts-throwaway-postgres.state}
RUN_AS=postgres
PORT=5432 # only names the socket file (.s.PGSQL.5432) in our own directory: nothing listens on TCP

as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

url_for() { # the socket directory percent-encoded as the URL's host, as libpq reads it
    local encoded=${1//\//%2F}
    echo "postgres://$RUN_AS@$encoded:$PORT/postgres?sslmode=disable"
}

server_start() {
    # Unix socket only, in our own directory; enough connections for several agents' pools and the tests.
    as_user "$BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$1' -c port=$PORT -c max_connections=200" start >/dev/null
}

running_dir() {
    [ -f "$STATE" ] || { echo "throwaway.sh: not running (run start first)" >&2; exit 1; }
    cat "$STATE"
}

start() {
    if [ -f "$STATE" ] && [ -d "$(cat "$STATE")" ]; then
        echo "throwaway.sh: already running in $(cat "$STATE") (stop it first)" >&2
        exit 1
    fi
    [ -x "$BIN/initdb" ] || { echo "throwaway.sh: no PostgreSQL at $BIN (apt-get install postgresql-15)" >&2; exit 1; }
    if [ "$(id -u)" -eq 0 ] && ! id "$RUN_AS" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_AS"
    fi
    local dir
    dir=$(mktemp -d /tmp/routerhosts-pg.XXXXXX)
    chmod 0755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$RUN_AS" "$dir"
    as_user "$BIN/initdb" -D "$dir/data" -U "$RUN_AS" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    server_start "$dir" || { cat "$dir/server.log" >&2; rm -rf "$dir"; exit 1; }
    echo "$dir" >"$STATE"
    echo "ROUTERHOSTS_TEST_POSTGRES_URL=$(url_for "$dir")"
}

stop() {
    [ -f "$STATE" ] || { echo "throwaway.sh: not running" >&2; return 0; }
    local dir
    dir=$(cat "$STATE")
    if [ -d "$dir/data" ]; then as_user "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir" "$STATE"
}

gone() { # a process that has exited (a zombie no one has reaped yet counts as gone)
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
    [[ $state == Z* ]]
}

crash() {
    # As a power cut looks to the server: every process of it killed at once, no shutdown checkpoint.
    local dir pid children p
    dir=$(running_dir)
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    children=$(ps -o pid= --ppid "$pid" | tr '\n' ' ')
    # shellcheck disable=SC2086
    kill -9 "$pid" $children
    for p in $pid $children; do
        for _ in $(seq 200); do gone "$p" && break; sleep 0.05; done
        gone "$p" || { echo "throwaway.sh: process $p survived kill -9" >&2; exit 1; }
    done
    # The lock files name a dead process; a zombie of it (nobody here may reap it) would still
    # answer kill(pid, 0) and keep the server from starting, so drop them as after a power cut.
    rm -f "$dir/data/postmaster.pid" "$dir/.s.PGSQL.$PORT.lock" "$dir/.s.PGSQL.$PORT"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "ROUTERHOSTS_TEST_POSTGRES_URL=$(url_for "$(running_dir)")" ;;
    halt) as_user "$BIN/pg_ctl" -D "$(running_dir)/data" -m immediate -w stop >/dev/null ;;
    resume) dir=$(running_dir); server_start "$dir" || { cat "$dir/server.log" >&2; exit 1; } ;;
    crash) crash ;;
    *) echo "usage: $0 start|stop|env|halt|resume|crash" >&2; exit 2 ;;
esac
