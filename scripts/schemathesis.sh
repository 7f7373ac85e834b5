#!/usr/bin/env bash
# Fuzz the API against its own OpenAPI schema with schemathesis, bounded in time (well under 2 minutes).
#
# Starts uvicorn on a free loopback port (in-memory MongoDB unless SCHEMATHESIS_MONGODB_URL is set),
# waits for /health/live, runs schemathesis's checks (all but the ones in EXCLUDE), and stops uvicorn on exit.
# Exit status: schemathesis's (0 when every check passed), 124 when SCHEMATHESIS_TIMEOUT cut the run short.
#
# Usage: scripts/schemathesis.sh [extra `schemathesis run` options, e.g. --seed 1]
# Env:   PYTHON                     interpreter with the app and uvicorn (.venv/bin/python)
#        SCHEMATHESIS               the CLI (.venv/bin/schemathesis)
#        SCHEMATHESIS_MONGODB_URL   backend (mongomock://localhost); a real server gets a throwaway database
#        SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (100)
#        SCHEMATHESIS_TIMEOUT       hard cap on the run in seconds (100)
#        SCHEMATHESIS_EXCLUDE       checks to skip (see EXCLUDE below); set it empty to run them all
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
ST="${SCHEMATHESIS:-$ROOT/.venv/bin/schemathesis}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
TIMEOUT="${SCHEMATHESIS_TIMEOUT:-100}"
# Every check runs by default; name checks here (comma-separated) to skip them while investigating.
EXCLUDE="${SCHEMATHESIS_EXCLUDE-}"

die() { echo "schemathesis.sh: $*" >&2; exit 1; }
[[ -x "$ST" ]] || die "no schemathesis at $ST: run 'python3 scripts/dev.py check' to install the test tools"

WORK="$(mktemp -d)"
UVICORN_PID=""
ST_PID=""
stop() { # pid: end a child of ours and reap it
    if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$ST_PID"
    stop "$UVICORN_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

# The environment is explicit so that a MONGODB_URL exported for the test suite is never fuzzed by accident.
MONGODB_URL="${SCHEMATHESIS_MONGODB_URL:-mongomock://localhost}" \
    MONGODB_DB="schemathesis_$$_$RANDOM" \
    "$PY" -m uvicorn app.main:app --app-dir "$ROOT" --host 127.0.0.1 --port "$PORT" \
    --log-level warning --no-access-log >"$WORK/uvicorn.log" 2>&1 &
UVICORN_PID=$!

ready=0
for _ in $(seq 1 150); do # 15 s
    kill -0 "$UVICORN_PID" 2>/dev/null || break
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "$BASE/health/live" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
if ((!ready)); then
    cat "$WORK/uvicorn.log" >&2
    die "the API did not answer $BASE/health/live"
fi

# The checks live in the config file, not on the command line: a check named there would override the
# per-operation exception at the end.
{
    cat <<'EOF'
[checks]
enabled = true # every check, as --checks all
# Statuses that answer a well-formed request correctly: 404 an id that is gone, 409 a name that is
# taken, 412 an If-Match version that is not current.
positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "412"]
EOF
    for check in ${EXCLUDE//,/ }; do
        echo "$check.enabled = false"
    done
    cat <<'EOF'

# The coverage phase builds header values from letters and digits only, so it has no valid If-Match
# (an entity tag is quoted) and sends an invalid one in a case labelled valid. The fuzzing and stateful
# phases still check valid data on these operations, quoted If-Match values included.
[[operations]]
include-name = ["PATCH /items/{item_id}", "DELETE /items/{item_id}"]
phases.coverage.checks.positive_data_acceptance.enabled = false

# Schemathesis sends the same generated Idempotency-Key with different bodies, which the API answers,
# as the IETF draft says, with 422: state, not a schema-valid body refused. That valid bodies are
# accepted is asserted by tests/test_properties.py and tests/test_idempotency.py.
[[operations]]
include-name = ["POST /items"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "412", "422"]
EOF
} >"$WORK/schemathesis.toml"

args=(
    run "$BASE/openapi.json"
    --max-examples "$MAX_EXAMPLES"
    --generation-database none
    --request-timeout 10
    --no-color
)

# From the scratch directory: schemathesis leaves nothing in the repository.
# In the background and waited for, so that a signal to this script stops the run at once (bash would
# otherwise run its traps only after a foreground command ends).
(cd "$WORK" && exec timeout --signal=INT --kill-after=10 "$TIMEOUT" "$ST" --config-file "$WORK/schemathesis.toml" \
    "${args[@]}" "$@") &
ST_PID=$!
status=0
wait "$ST_PID" || status=$?
ST_PID=""
if ((status == 124)); then
    echo "schemathesis.sh: stopped after ${TIMEOUT}s (SCHEMATHESIS_TIMEOUT)" >&2
fi
if grep -q "Traceback" "$WORK/uvicorn.log"; then
    echo "schemathesis.sh: the server logged exceptions:" >&2
    cat "$WORK/uvicorn.log" >&2
    status=$((status ? status : 1))
fi
exit "$status"
