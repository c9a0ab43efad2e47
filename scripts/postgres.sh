#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of the state portal replicas share.
#
#   scripts/postgres.sh start DIR    initdb a cluster in DIR (created, must not exist), start it on
#                                    127.0.0.1 on a free port, print its URL (also kept in DIR/url)
#   scripts/postgres.sh stop DIR     stop the server and remove DIR
#   scripts/postgres.sh status DIR   exit 0 and print the URL while the server answers
#   scripts/postgres.sh pause DIR    stop the server of DIR, keeping its data (an outage)
#   scripts/postgres.sh resume DIR   start it again on the same port
#   scripts/postgres.sh run CMD...   start a server in a new temporary directory, run CMD with
#                                    ATTEST_POSTGRES_URL set, then stop it whatever CMD did
#                                    (also on failure or interruption); exit with CMD's status
#
# The server is installed from Debian's packages when missing. PostgreSQL refuses to run as
# root: as root, every server command runs as the `postgres` user, in a directory it owns.
# The cluster trusts local connections on loopback only, for role and database `attest`.
set -euo pipefail

ROLE=attest
DATABASE=attest

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

ensure_installed() {
    if ! find_bindir >/dev/null; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "postgres.sh: no PostgreSQL server; run: sudo apt-get install -y postgresql" >&2; exit 1
        fi
        echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2; }
    fi
    find_bindir >/dev/null || { echo "postgres.sh: no PostgreSQL server binaries found" >&2; exit 1; }
}

# Runs a server command as the user that owns the cluster, with no open file but stdin,
# stdout and stderr: a server it starts must not hold a pipe of whoever called the script
# (a test runner waiting for end of file on it would wait for the server).
as_owner() {
    (
        cd /
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        if [ "$(id -u)" -eq 0 ]; then exec runuser -u postgres -- "$@"; else exec "$@"; fi
    )
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local dir=$1
    ensure_installed
    local bin; bin=$(find_bindir)
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        echo "postgres.sh: $dir exists and is not empty" >&2; exit 1
    fi
    mkdir -p "$dir/data"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$dir"; fi
    chmod 700 "$dir" "$dir/data"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    local port attempt
    for attempt in 1 2 3; do
        port=$(free_port)
        # Loopback only; the socket directory is the cluster's own; fsync off: the data is thrown away.
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null; then
            break
        fi
        port=
    done
    if [ -z "$port" ]; then cat "$dir/server.log" >&2 || true; exit 1; fi
    echo "$port" >"$dir/port"
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE $ROLE LOGIN" -c "CREATE DATABASE $DATABASE OWNER $ROLE" >/dev/null
    echo "postgres://$ROLE@127.0.0.1:$port/$DATABASE" | tee "$dir/url"
}

stop() {
    local dir=$1
    local bin; bin=$(find_bindir) || { rm -rf "$dir"; return 0; }
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
            || as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

pause() {
    local dir=$1
    local bin; bin=$(find_bindir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
}

resume() {
    local dir=$1
    local bin; bin=$(find_bindir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $(cat "$dir/port") -k $dir -c fsync=off -c max_connections=200" start >/dev/null
}

status() {
    local dir=$1
    local bin; bin=$(find_bindir) || exit 1
    [ -f "$dir/port" ] || exit 1
    as_owner "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")" || exit 1
    cat "$dir/url"
}

run() {
    # mktemp's directory is empty; start() creates the cluster inside it.
    RUN_DIR=$(mktemp -d /tmp/attest-postgres.XXXXXX)
    trap 'stop "$RUN_DIR"' EXIT
    trap 'exit 130' INT TERM
    ATTEST_POSTGRES_URL=$(start "$RUN_DIR")
    ATTEST_POSTGRES_DIR=$RUN_DIR
    export ATTEST_POSTGRES_URL ATTEST_POSTGRES_DIR
    local rc=0
    "$@" || rc=$?
    exit $rc
}

case "${1:-}" in
    start|stop|status|pause|resume)
        [ $# -eq 2 ] || { echo "usage: $0 $1 DIR" >&2; exit 2; }
        "$1" "$2" ;;
    run)
        shift
        [ $# -ge 1 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
        run "$@" ;;
    *)
        echo "usage: $0 start|stop|status|pause|resume DIR | run CMD..." >&2; exit 2 ;;
esac
