#!/usr/bin/env bash
# Local MongoDB-compatible server for tests: FerretDB v1 (SQLite backend),
# built from tools/ferretdb. See tools/ferretdb/README.md.
#
# Usage: scripts/ferretdb.sh build|start|url|stop
#   build  build .cache/ferretdb/bin/ferretdb (no-op when up to date; Go required)
#   start  build if needed, start in the background, wait for a ping, print the URL (only the URL goes
#          to stdout). Port: FERRETDB_PORT, or else a free one. If this checkout's FerretDB already
#          runs there (or, with no FERRETDB_PORT, anywhere) it is reused; if anything else listens on
#          FERRETDB_PORT, start refuses and exits 1.
#   url    the URL of FERRETDB_PORT's instance, or else of the instance started last; exits 1 when
#          none is running
#   stop   stop FERRETDB_PORT's instance, or else every instance this checkout started
#
# State, one directory per port: .cache/ferretdb/<port>/{pid,log,data/}. An instance on a port that
# start picked itself is throwaway: stop deletes its directory, data included. With FERRETDB_PORT the
# data stays for the next start on that port.
#
# Env: FERRETDB_PORT (none: a free port), FERRETDB_DATA (<state>/<port>/data; relative paths are
#      repo-relative), FERRETDB_LOG_LEVEL (error), FERRETDB_START_TIMEOUT (30 s),
#      PYTHON (python3; with pymongo the readiness check is a real ping, else a TCP connect),
#      FERRETDB_STATE (.cache/ferretdb; a separate one is a separate set of instances)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tools/ferretdb"
BIN="$ROOT/.cache/ferretdb/bin/ferretdb"
STATE="${FERRETDB_STATE:-.cache/ferretdb}"
[[ "$STATE" = /* ]] || STATE="$ROOT/$STATE"
PY="${PYTHON:-python3}"
ASKED_PORT="${FERRETDB_PORT:-}"

die() { echo "ferretdb.sh: $*" >&2; exit 1; }
say() { echo "ferretdb.sh: $*" >&2; }
url_of() { echo "mongodb://127.0.0.1:$1/"; }

if [[ -n "$ASKED_PORT" ]] && ! [[ "$ASKED_PORT" =~ ^[0-9]+$ && "$ASKED_PORT" -ge 1 && "$ASKED_PORT" -le 65535 ]]; then
    die "FERRETDB_PORT must be a port number (1-65535), not '$ASKED_PORT'"
fi

# kill -0 alone would count a not-yet-reaped (zombie) child as alive.
alive() {
    kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the pid of this checkout's FerretDB on port $1, if its pid file points at a live process of
# our binary serving that port (a stale file may name a recycled pid that belongs to something else).
running_pid() {
    local port="$1" pidfile="$STATE/$1/pid" pid cmdline
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == "$BIN -listen 127.0.0.1:$port "* ]] || return 1
    echo "$pid"
}

# Ports with a live instance of this checkout, the most recently started (or reused) first.
running_ports() {
    local pidfile port
    [[ -d "$STATE" ]] || return 0
    # Pid files are touched on start and on reuse, so their modification times order the instances.
    while IFS= read -r pidfile; do
        port="$(basename "$(dirname "$pidfile")")"
        [[ "$port" =~ ^[0-9]+$ ]] && running_pid "$port" >/dev/null && echo "$port"
    done < <(ls -1t "$STATE"/*/pid 2>/dev/null)
    return 0
}

# The first of running_ports (not `| head -n 1`: under pipefail, head closing the pipe early fails it).
last_port() {
    local ports
    ports="$(running_ports)"
    echo "${ports%%$'\n'*}"
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' ||
        die "cannot ask $PY for a free port"
}

cmd_build() {
    # Skip go entirely when the binary is newer than every source file;
    # otherwise go's build cache keeps rebuilds fast.
    if [[ -x "$BIN" ]] && [[ -z "$(find "$SRC" -maxdepth 1 -newer "$BIN" \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \))" ]]; then
        return 0
    fi
    command -v go >/dev/null || die "go is not installed"
    mkdir -p "$(dirname "$BIN")"
    (cd "$SRC" && go build -buildvcs=false -o "$BIN.tmp" .)
    mv -f "$BIN.tmp" "$BIN"
}

# One readiness probe: a real MongoDB ping when pymongo is there, else a TCP connect.
probe() {
    if "$PY" -c 'import pymongo' 2>/dev/null; then
        "$PY" - "$(url_of "$1")" <<'EOF' >/dev/null 2>&1
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
try:
    c.admin.command("ping")
finally:
    c.close()
EOF
    else
        listening "$1"
    fi
}

# Waits until the instance (pid $2) on port $1 answers; returns 1 if it exits or the time runs out.
await_ready() {
    local deadline=$((SECONDS + ${FERRETDB_START_TIMEOUT:-30}))
    until probe "$1"; do
        if ! alive "$2" || ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.1
    done
}

reuse() {
    local port="$1" pid="$2"
    await_ready "$port" "$pid" || die "FerretDB (pid $pid) on port $port does not answer; see $STATE/$port/log"
    touch "$STATE/$port/pid"
    say "reused the FerretDB already running on port $port (pid $pid)"
    url_of "$port"
}

# Starts an instance on port $1; returns 2 if it exited before answering (the port may have been
# taken in the meantime), and dies if it never answered.
launch() {
    local port="$1" dir="$STATE/$1" data pid
    data="${FERRETDB_DATA:-$dir/data}"
    [[ "$data" = /* ]] || data="$ROOT/$data"
    mkdir -p "$dir" "$data"
    nohup "$BIN" -listen "127.0.0.1:$port" -data "$data" \
        -log-level "${FERRETDB_LOG_LEVEL:-error}" >"$dir/log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/pid"
    if await_ready "$port" "$pid"; then
        say "started FerretDB on port $port (pid $pid, log $dir/log)"
        url_of "$port"
        return 0
    fi
    local exited=0
    alive "$pid" || exited=1
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    say "FerretDB did not start on port $port; last log lines:"
    tail -n 20 "$dir/log" >&2 || true
    ((exited)) && return 2
    exit 1
}

cmd_start() {
    local pid port attempt status
    if [[ -n "$ASKED_PORT" ]]; then
        if pid="$(running_pid "$ASKED_PORT")"; then
            reuse "$ASKED_PORT" "$pid"
            return 0
        fi
        if listening "$ASKED_PORT"; then
            die "port $ASKED_PORT is in use by a process that is not this checkout's FerretDB; choose another FERRETDB_PORT, or unset it to get a free port"
        fi
        cmd_build
        launch "$ASKED_PORT" || die "FerretDB could not start on port $ASKED_PORT (its log is above)"
        return 0
    fi
    port="$(last_port)"
    if [[ -n "$port" ]] && pid="$(running_pid "$port")"; then
        reuse "$port" "$pid"
        return 0
    fi
    cmd_build
    # A free port can be taken between asking for it and listening on it: then try another one.
    for attempt in 1 2 3; do
        port="$(free_port)"
        status=0
        launch "$port" || status=$?
        if ((status == 0)); then
            touch "$STATE/$port/auto"
            return 0
        fi
        rm -rf "${STATE:?}/$port"
    done
    die "FerretDB could not start on a free port ($attempt attempts)"
}

cmd_url() {
    local port
    if [[ -n "$ASKED_PORT" ]]; then
        if ! running_pid "$ASKED_PORT" >/dev/null || ! listening "$ASKED_PORT"; then
            die "no FerretDB of this checkout is running on port $ASKED_PORT (start it: FERRETDB_PORT=$ASKED_PORT scripts/ferretdb.sh start)"
        fi
        url_of "$ASKED_PORT"
        return 0
    fi
    port="$(last_port)"
    if [[ -z "$port" ]] || ! listening "$port"; then
        die "no FerretDB of this checkout is running (start one: scripts/ferretdb.sh start)"
    fi
    url_of "$port"
}

stop_port() {
    local port="$1" dir="$STATE/$1" pid i
    if pid="$(running_pid "$port")"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do # 10 s
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            say "FerretDB (pid $pid) on port $port ignored SIGTERM, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped FerretDB on port $port"
    fi
    rm -f "$dir/pid"
    # Nobody can find a picked port's data again, so it would only pile up.
    [[ -f "$dir/auto" ]] && rm -rf "${dir:?}"
    return 0
}

cmd_stop() {
    local port dir
    if [[ -n "$ASKED_PORT" ]]; then
        stop_port "$ASKED_PORT"
        return 0
    fi
    # Every port directory, not only the running ones, so that stale pid files go too.
    for dir in "$STATE"/*/; do
        port="$(basename "$dir")"
        [[ "$port" =~ ^[0-9]+$ ]] && stop_port "$port"
    done
    return 0
}

case "${1:-}" in
build) cmd_build ;;
start) cmd_start ;;
url) cmd_url ;;
stop) cmd_stop ;;
*) die "usage: $0 build|start|url|stop (see the comment at the top of the script)" ;;
esac
