#!/usr/bin/env bash
# Validates the files this project ships for other people's machines, which CI here cannot run:
#   .github/workflows/*.yml  with actionlint (pinned in tools/validators/go.mod)
#   docker-compose.yml       with composecheck (tools/validators/composecheck: the Compose
#                            Specification's own loader, schema validation on, variables from
#                            .env.example)
# Both are built from the Go module proxy into .cache/validators/bin (Go required); a build is
# skipped while the binary is newer than its module's sources.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SRC=tools/validators
BIN=.cache/validators/bin

# build OUTPUT MODULE_DIR PACKAGE: go build, unless OUTPUT is newer than every source of the module
# (for actionlint, go.mod and go.sum are its only sources: they pin the version).
build() {
    local out="$1" dir="$2" pkg="$3"
    if [[ -x "$out" ]] && [[ -z "$(find "$dir" -maxdepth 1 -newer "$out" \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \))" ]]; then
        return 0
    fi
    command -v go >/dev/null || { echo "validate-ci-files.sh: go is not installed" >&2; exit 1; }
    mkdir -p "$BIN"
    (cd "$dir" && go build -trimpath -o "$ROOT/$out.tmp" "$pkg")
    mv -f "$out.tmp" "$out"
}

build "$BIN/actionlint" "$SRC" github.com/rhysd/actionlint/cmd/actionlint
build "$BIN/composecheck" "$SRC/composecheck" .

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
((${#workflows[@]})) || { echo "validate-ci-files.sh: no workflow under .github/workflows" >&2; exit 1; }
# actionlint also runs shellcheck on `run:` scripts when shellcheck is installed.
"$BIN/actionlint" "${workflows[@]}"
echo "actionlint: ${workflows[*]}: valid"
"$BIN/composecheck" docker-compose.yml
