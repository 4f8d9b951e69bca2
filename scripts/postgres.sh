# shellcheck shell=bash
# A private, throwaway PostgreSQL server for the test suite.
#
# Sourced by scripts/test.sh, which defines `log`, `warn`, `free_port`, `pid_alive` and
# `stop_pid` and owns the EXIT trap that calls `pg_stop`. Nothing here touches the system
# cluster that Debian's `postgresql` package creates: we run our own `initdb` and `pg_ctl`
# in a temporary directory, on a free port, with the socket in that directory too.
#
# After `pg_start` succeeds:
#   PG_BIN   the versioned bin directory (/usr/lib/postgresql/<ver>/bin)
#   PG_DIR   the temporary directory (data/, sock/, postgres.log), removed by `pg_stop`
#   PG_PORT  the TCP port, on 127.0.0.1 only
#   PG_PID   the postmaster's process id, read from data/postmaster.pid
#   KOMANDER_TEST_DATABASE_URL  exported; tests create their own databases from it

PG_BIN=''
PG_DIR=''
PG_PORT=''
PG_PID=''

# Prints the newest /usr/lib/postgresql/<ver>/bin that has an initdb. Debian keeps the server
# binaries there, off PATH (/usr/bin/pg_* are wrappers that expect a system cluster).
pg_bin_dir() {
    local candidates=() dir
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x $dir/initdb ]] && candidates+=("$dir")
    done
    ((${#candidates[@]})) || return 1
    printf '%s\n' "${candidates[@]}" | sort -V | tail -n 1
}

# Runs a command as the `postgres` user when we are root: the server refuses to run as root.
# A developer who is not root runs it as themselves, which PostgreSQL accepts.
# The subshell moves to PG_DIR first, because `postgres` may not read the caller's directory.
as_postgres() {
    if ((EUID == 0)); then
        (cd "$PG_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$PG_DIR" && "$@")
    fi
}

# Starts the private server. Returns non-zero (after saying why) instead of exiting, so that the
# caller decides whether a missing PostgreSQL is fatal (CI) or a loud warning (a developer).
# Every step ends in `|| return 1`: `set -e` does not apply inside a function called from `||`.
pg_start() {
    local i
    PG_BIN=$(pg_bin_dir) || {
        warn "no /usr/lib/postgresql/*/bin/initdb: PostgreSQL is not installed"
        return 1
    }
    if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
        warn "there is no 'postgres' user to run the server as (Debian's postgresql package creates it)"
        return 1
    fi

    PG_DIR=$(mktemp -d /tmp/komander-pg.XXXXXX) || return 1
    if ((EUID == 0)); then
        chown postgres: "$PG_DIR" || return 1
    fi

    # Trust authentication is fine: the server listens on 127.0.0.1 and a private socket
    # directory only, and lives as long as this test run. --no-sync: nothing here must survive
    # a crash, and fsync on a busy disk costs seconds.
    if ! as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1; then
        warn "initdb failed:"
        tail -n 20 "$PG_DIR/initdb.log" >&2
        return 1
    fi
    as_postgres mkdir "$PG_DIR/sock" || return 1

    PG_PORT=$(free_port) || return 1
    # fsync=off: a test database need not survive a power cut, and it makes tests much faster.
    # max_connections=200: tests run in parallel, each with its own pool.
    if ! as_postgres "$PG_BIN/pg_ctl" start --wait --timeout=60 -D "$PG_DIR/data" \
        -l "$PG_DIR/postgres.log" \
        -o "-p $PG_PORT -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
        >"$PG_DIR/pg_ctl.log" 2>&1; then
        warn "pg_ctl start failed:"
        tail -n 20 "$PG_DIR/pg_ctl.log" "$PG_DIR/postgres.log" >&2 2>/dev/null
        pg_read_pid # it may be up after all (slow start): let pg_stop find it
        return 1
    fi

    # pg_ctl --wait already waited, but its idea of "ready" is the socket file: ask over TCP,
    # the way the tests will connect. Bounded: 30 tries, 0.5 s apart.
    for ((i = 0; i < 30; i++)); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres && break
        sleep 0.5
    done
    pg_read_pid || {
        warn "PostgreSQL started but wrote no postmaster.pid"
        return 1
    }
    if ((i == 30)); then
        warn "PostgreSQL (pid $PG_PID) did not accept connections on 127.0.0.1:$PG_PORT within 15 s:"
        tail -n 20 "$PG_DIR/postgres.log" >&2
        return 1
    fi

    export KOMANDER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    local version=${PG_BIN%/bin}
    log "PostgreSQL ${version##*/} running: pid $PG_PID, $KOMANDER_TEST_DATABASE_URL"
}

# The first line of postmaster.pid is the postmaster's pid (pg_ctl itself has exited by now).
pg_read_pid() {
    local pid
    [[ -n $PG_DIR && -r $PG_DIR/data/postmaster.pid ]] || return 1
    pid=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    PG_PID=$pid
}

# Creates a database on the private server and prints its URL.
pg_create_database() {
    local name=$1
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$name" || return 1
    printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$PG_PORT" "$name"
}

# Stops the private server by its pid and removes its directory. Safe to call twice, and
# when pg_start failed half-way. SIGINT is PostgreSQL's "fast" shutdown: it disconnects
# clients instead of waiting for them (SIGTERM, "smart", would wait for a stuck pool).
pg_stop() {
    if [[ -n $PG_PID ]]; then
        stop_pid "$PG_PID" INT "PostgreSQL" || true
        PG_PID=''
    fi
    if [[ -n $PG_DIR ]]; then
        rm -rf -- "$PG_DIR"
        PG_DIR=''
    fi
    unset KOMANDER_TEST_DATABASE_URL
}
