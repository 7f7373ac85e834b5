#!/usr/bin/env bash
# The loopsafe-mongo package checked as a release, at both ends of the versions it supports:
#   1. build the sdist and, from it, the wheel (python -m build), then check them: metadata and README
#      rendering (twine check --strict), the wheel's contents (check-wheel-contents);
#   2. install the built wheel (not the source tree) into fresh virtualenvs and run the package's tests
#      and both examples there, at the lowest versions (packages/loopsafe-mongo/ci/lowest*.txt) and at
#      the newest each dependency has today (resolved afresh, unpinned);
#   3. an unsupported version (too old a pytest-asyncio, too old a Motor) must stop pytest with one line.
# Tools are pinned in packages/loopsafe-mongo/ci/tools.txt; uv installs the test virtualenvs (seconds,
# from its cache). Everything goes under .cache/package/ (DIST=... to build elsewhere).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PKG=packages/loopsafe-mongo
WORK=.cache/package
DIST=${DIST:-$WORK/dist}
TOOLS=$WORK/tools
step() { printf '\n--- check-package: %s ---\n' "$*"; }

step "release tools (pinned in $PKG/ci/tools.txt)"
[[ -x $TOOLS/bin/python ]] || python3 -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check -r "$PKG/ci/tools.txt"
UV=$TOOLS/bin/uv

step "build the sdist and the wheel"
rm -rf "$DIST"
"$TOOLS/bin/python" -m build --quiet --outdir "$DIST" "$PKG"
ls "$DIST"
"$TOOLS/bin/twine" check --strict "$DIST"/*
# The kata's exercises are data that happens to be Python: several start from the same app.py (W002), in
# folders that are no import path (W004). Those two findings are allowed for them alone; anything else fails.
contents_status=0
contents=$("$TOOLS/bin/check-wheel-contents" --package "$PKG/src/loopsafe_mongo" "$DIST"/*.whl 2>&1) || contents_status=$?
echo "$contents"
allowed='^(\S+\.whl: (OK|W002: Wheel contains duplicate files:|W004: Module is not located at importable path:)|  loopsafe_mongo/kata/exercises/\S+)$'
if unexpected=$(grep -vE "$allowed" <<<"$contents"); then
    printf 'check-wheel-contents found more than the kata exercises (exit %s):\n%s\n' "$contents_status" "$unexpected" >&2
    exit 1
fi
"$TOOLS/bin/python" "$PKG/ci/check_classifiers.py"
wheels=("$DIST"/loopsafe_mongo-*.whl)
WHEEL=$(realpath "${wheels[0]}")

# fresh NAME REQUIREMENTS...: a new virtualenv at $WORK/NAME with the given requirements installed.
fresh() {
    local name=$1
    shift
    rm -rf "${WORK:?}/$name"
    "$UV" venv --quiet --python python3 "$WORK/$name"
    "$UV" pip install --quiet --python "$WORK/$name/bin/python" "$@"
}

# suites VENV: the package's own tests (on the installed wheel: src/ is not on the path) and both examples.
suites() {
    local python=$ROOT/$WORK/$1/bin/python
    (cd "$PKG" && "$python" -c 'import loopsafe_mongo, sys; "site-packages" in loopsafe_mongo.__file__ or sys.exit("not the wheel")')
    (cd "$PKG" && "$python" -m pytest -p no:cacheprovider -q)
    examples "$1" examples/anyio-notes examples/asyncio-notes
}

examples() {
    local python=$ROOT/$WORK/$1/bin/python
    shift
    for example in "$@"; do
        (cd "$example" && "$python" -m pytest -p no:cacheprovider -q)
    done
}

# refused VENV EXAMPLE MESSAGE: pytest in EXAMPLE must stop at once with a usage error saying MESSAGE.
refused() {
    local output status=0
    output=$(cd "$2" && "$ROOT/$WORK/$1/bin/python" -m pytest -p no:cacheprovider -q 2>&1) || status=$?
    if [[ $status -ne 4 ]] || ! grep -qF "$3" <<<"$output"; then
        printf 'expected a usage error saying %q, got exit %s:\n%s\n' "$3" "$status" "$output" >&2
        return 1
    fi
    grep -F "$3" <<<"$output"
}

step "lowest versions, fixtures on pytest-asyncio ($PKG/ci/lowest.txt)"
fresh lowest "$WHEEL[asyncio,motor]" -r "$PKG/ci/lowest.txt"
suites lowest

step "lowest versions, fixtures on anyio, pytest 7.4 ($PKG/ci/lowest-anyio.txt)"
# The package's own tests drive pytest-asyncio, which needs pytest 8.2: the anyio example runs here.
fresh lowest-anyio "$WHEEL[pytest,motor]" -r "$PKG/ci/lowest-anyio.txt"
examples lowest-anyio examples/anyio-notes

step "unsupported versions stop pytest with one line"
"$UV" pip install --quiet --python "$WORK/lowest/bin/python" pytest-asyncio==0.23.8
refused lowest examples/asyncio-notes "loopsafe-mongo needs pytest-asyncio>=0.24, but pytest-asyncio 0.23.8 is installed"
# Motor 3.3 installs beside PyMongo 4.9 without complaint (it asks for pymongo<5), then cannot import it.
"$UV" pip install --quiet --python "$WORK/lowest-anyio/bin/python" motor==3.3.2
refused lowest-anyio examples/anyio-notes "loopsafe-mongo needs motor>=3.6, but motor 3.3.2 is installed"

step "newest versions (resolved today, unpinned)"
fresh newest "$WHEEL[asyncio,motor]" fastapi mongomock-motor
"$UV" pip list --quiet --python "$WORK/newest/bin/python" | grep -iE '^(pymongo|motor|pytest|pytest-asyncio|anyio|httpx|fastapi|starlette) '
suites newest

step "passed"
