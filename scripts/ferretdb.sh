#!/usr/bin/env bash
# Local MongoDB-compatible server for tests: FerretDB v1 (SQLite backend),
# built from tools/ferretdb. See tools/ferretdb/README.md.
#
# Usage: scripts/ferretdb.sh build|start|stop|url
# Env:   FERRETDB_PORT (27018), FERRETDB_DATA (.cache/ferretdb/data),
#        FERRETDB_LOG_LEVEL (error), FERRETDB_START_TIMEOUT (30 s), PYTHON (python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tools/ferretdb"
STATE="$ROOT/.cache/ferretdb"
BIN="$STATE/bin/ferretdb"
LOG="$STATE/ferretdb.log"
PIDFILE="$STATE/ferretdb.pid"
PORT="${FERRETDB_PORT:-27018}"
DATA="${FERRETDB_DATA:-.cache/ferretdb/data}"
[[ "$DATA" = /* ]] || DATA="$ROOT/$DATA" # relative paths are repo-relative
URL="mongodb://127.0.0.1:${PORT}/"
PY="${PYTHON:-python3}"

die() { echo "ferretdb.sh: $*" >&2; exit 1; }

# kill -0 alone would count a not-yet-reaped (zombie) child as alive.
alive() {
    kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# Prints the pid if the pid file points at a live process of our binary
# (a stale file may name a recycled pid that belongs to something else).
running_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 1
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$BIN" || return 1
    echo "$pid"
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
        "$PY" - "$URL" <<'EOF' >/dev/null 2>&1
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
try:
    c.admin.command("ping")
finally:
    c.close()
EOF
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
    fi
}

cmd_start() {
    local pid deadline
    if pid="$(running_pid)"; then
        echo "$URL"
        return 0
    fi
    cmd_build
    mkdir -p "$STATE"
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "port $PORT is already in use by another process"
    fi
    nohup "$BIN" -listen "127.0.0.1:$PORT" -data "$DATA" \
        -log-level "${FERRETDB_LOG_LEVEL:-error}" >"$LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
    deadline=$((SECONDS + ${FERRETDB_START_TIMEOUT:-30}))
    until probe; do
        if ! alive "$pid" || ((SECONDS >= deadline)); then
            kill -TERM "$pid" 2>/dev/null || true
            rm -f "$PIDFILE"
            echo "ferretdb.sh: FerretDB did not start on port $PORT; last log lines:" >&2
            tail -n 20 "$LOG" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    echo "$URL"
}

cmd_stop() {
    local pid i
    if pid="$(running_pid)"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do # 10 s
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "ferretdb.sh: FerretDB (pid $pid) ignored SIGTERM, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
build) cmd_build ;;
start) cmd_start ;;
stop) cmd_stop ;;
url) echo "$URL" ;;
*) die "usage: $0 build|start|stop|url" ;;
esac
