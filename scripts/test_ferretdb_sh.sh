#!/usr/bin/env bash
# `cond && pass || fail` is safe here: pass always succeeds.
# shellcheck disable=SC2015
# Tests of scripts/ferretdb.sh start|url|stop: two instances on two ports, reuse, a refused taken port,
# url and stop per port, a picked free port. Needs the binary (scripts/ferretdb.sh build) and python3.
# It works in a state directory of its own (FERRETDB_STATE), so it neither sees nor stops the
# instances this checkout is running for anything else. About 3 s.
set -uo pipefail # no -e: every check runs, and the failures are counted
cd "$(dirname "$0")/.." || exit 1

FERRETDB_STATE="$(mktemp -d)"
export FERRETDB_STATE
unset FERRETDB_PORT FERRETDB_DATA
PY="${PYTHON:-python3}"
SH=scripts/ferretdb.sh
BLOCKER_PID=
failures=0

cleanup() {
    FERRETDB_PORT="" "$SH" stop 2>/dev/null || true
    [[ -n "$BLOCKER_PID" ]] && kill "$BLOCKER_PID" 2>/dev/null
    rm -rf "$FERRETDB_STATE"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# expect NAME EXPECTED_RC EXPECTED_STDOUT ENV... -- COMMAND: stdout must be exactly EXPECTED_STDOUT
# (empty when a command fails: a URL must never be printed for a port nobody serves).
expect() {
    local name="$1" want_rc="$2" want_out="$3" out rc=0
    shift 3
    out="$(env "$@" 2>"$FERRETDB_STATE/stderr")" || rc=$?
    if [[ "$rc" != "$want_rc" || "$out" != "$want_out" ]]; then
        fail "$name: exit $rc (want $want_rc), stdout '$out' (want '$want_out'); stderr: $(cat "$FERRETDB_STATE/stderr")"
        return 1
    fi
    pass "$name"
}
stderr_has() {
    grep -qF "$2" "$FERRETDB_STATE/stderr" && pass "$1" || fail "$1: stderr lacks '$2': $(cat "$FERRETDB_STATE/stderr")"
}

[[ -x .cache/ferretdb/bin/ferretdb ]] || { echo "build the binary first: scripts/ferretdb.sh build" >&2; exit 1; }

P1="$(free_port)"
P2="$(free_port)"
while [[ "$P2" == "$P1" ]]; do P2="$(free_port)"; done
U1="mongodb://127.0.0.1:$P1/"
U2="mongodb://127.0.0.1:$P2/"

expect "url with nothing running fails" 1 "" "$SH" url
expect "start on port 1" 0 "$U1" FERRETDB_PORT="$P1" "$SH" start && stderr_has "start says started" "started FerretDB on port $P1"
expect "start on port 2" 0 "$U2" FERRETDB_PORT="$P2" "$SH" start
listening "$P1" && listening "$P2" && pass "both ports listen" || fail "both ports should listen"
expect "url of port 1" 0 "$U1" FERRETDB_PORT="$P1" "$SH" url
expect "url with no port is the last started" 0 "$U2" "$SH" url
expect "start on port 1 again reuses it" 0 "$U1" FERRETDB_PORT="$P1" "$SH" start && stderr_has "reuse says so" "reused"
expect "after a reuse, url is that instance" 0 "$U1" "$SH" url
expect "start with no port reuses the last one" 0 "$U1" "$SH" start && stderr_has "and says so" "reused"

# A port taken by something that is not this checkout's FerretDB.
P3="$(free_port)"
"$PY" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$P3" &
BLOCKER_PID=$!
for _ in $(seq 50); do listening "$P3" && break; sleep 0.1; done
expect "start on a taken port is refused" 1 "" FERRETDB_PORT="$P3" "$SH" start && stderr_has "with a message" "in use"
expect "url of the taken port fails" 1 "" FERRETDB_PORT="$P3" "$SH" url
expect "stop of the taken port leaves it alone" 0 "" FERRETDB_PORT="$P3" "$SH" stop
kill -0 "$BLOCKER_PID" 2>/dev/null && pass "the other process still runs" || fail "stop killed a process that is not ours"

expect "stop port 1" 0 "" FERRETDB_PORT="$P1" "$SH" stop
listening "$P1" && fail "port 1 still listens after stop" || pass "port 1 no longer listens"
expect "url of stopped port 1 fails" 1 "" FERRETDB_PORT="$P1" "$SH" url
expect "port 2 still serves" 0 "$U2" FERRETDB_PORT="$P2" "$SH" url
expect "url with no port falls back to port 2" 0 "$U2" "$SH" url
[[ -d "$FERRETDB_STATE/$P1/data" ]] && pass "an asked port keeps its data" || fail "port 1's data directory is gone"

# A port picked by start itself: throwaway state.
picked="$(env FERRETDB_PORT="$P2" "$SH" stop 2>/dev/null; "$SH" start 2>/dev/null)" || true
if [[ "$picked" =~ ^mongodb://127\.0\.0\.1:([0-9]+)/$ ]]; then
    P4="${BASH_REMATCH[1]}"
    pass "start with no port picked port $P4"
    listening "$P4" && pass "the picked port listens" || fail "the picked port does not listen"
    expect "stop with no port stops every instance" 0 "" "$SH" stop
    listening "$P4" && fail "the picked port still listens" || pass "the picked port no longer listens"
    [[ -e "$FERRETDB_STATE/$P4" ]] && fail "a picked port's state was left behind" || pass "a picked port's state is gone"
else
    fail "start with no port printed '$picked'"
fi
expect "url with nothing running fails again" 1 "" "$SH" url
[[ -z "$(pgrep -f "ferretdb -listen 127.0.0.1:($P1|$P2|${P4:-0}) " || true)" ]] && pass "no instance left" || fail "an instance was left running"

if ((failures)); then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all ferretdb.sh checks passed"
