#!/usr/bin/env bash
# Screenshot test for docs/diagrams/*.svg: each diagram rendered by headless Chromium (Debian's package)
# at its own width and height, and the screenshot checked by scripts/screenshot_diagrams.py: the right
# size, not blank, and nothing drawn in the 2-pixel strips along its right and bottom edges (a diagram
# drawn past its declared size is cut off there). About 13 s for the eight once Chromium is installed.
#
# Usage: bash scripts/screenshot-diagrams.sh [SVG ...]   (default: every docs/diagrams/*.svg)
#   Installs chromium and fonts-liberation with apt-get (as root) when either is missing: the diagrams ask
#   for Helvetica or Arial, and Liberation Sans has Arial's metrics, so the text is as wide as viewers see it.
#   PYTHON (default python3) runs the checker; it needs only the standard library. SCREENSHOT_DIR, when set,
#   keeps the screenshots there (NAME.png) to look at; by default they go to a temporary directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
CHECKER="$ROOT/scripts/screenshot_diagrams.py"
CHROMIUM=/usr/bin/chromium
FONT=/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf

die() { echo "screenshot-diagrams.sh: $*" >&2; exit 1; }

if [[ ! -x "$CHROMIUM" || ! -f "$FONT" ]]; then
    [[ $(id -u) -eq 0 ]] || die "$CHROMIUM or $FONT is missing: install them as root (apt-get install chromium fonts-liberation)"
    command -v apt-get >/dev/null || die "chromium or fonts-liberation is missing and there is no apt-get to install them"
    echo "installing Debian's chromium and fonts-liberation (about 80 s)"
    timeout 300 apt-get update -qq || die "apt-get update failed or took over 300 s"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends chromium fonts-liberation \
        || die "apt-get install chromium fonts-liberation failed or took over 600 s"
    [[ -x "$CHROMIUM" ]] || die "apt-get installed chromium, but there is no $CHROMIUM"
fi

if [[ $# -gt 0 ]]; then
    svgs=("$@")
else
    shopt -s nullglob
    svgs=("$ROOT"/docs/diagrams/*.svg)
    [[ ${#svgs[@]} -gt 0 ]] || die "no diagrams in $ROOT/docs/diagrams"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
[[ -z "${SCREENSHOT_DIR:-}" ]] || mkdir -p "$SCREENSHOT_DIR"
pairs=()
for svg in "${svgs[@]}"; do
    svg="$(realpath "$svg")"
    name="$(basename "$svg" .svg)"
    size="$("$PYTHON" "$CHECKER" size "$svg")"
    png="${SCREENSHOT_DIR:-$work}/$name.png"
    # Chromium's own logging (D-Bus missing, the Debian launcher's shm check) goes to a log shown on failure.
    status=0
    timeout -k 5 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
        --user-data-dir="$(mktemp -d "$work/profile.XXXXXX")" --screenshot="$png" --window-size="$size" \
        "file://$svg" >"$work/$name.log" 2>&1 || status=$?
    if [[ $status -ne 0 || ! -s "$png" ]]; then
        tail -n 20 "$work/$name.log" >&2
        [[ $status -eq 124 || $status -eq 137 ]] && die "$name.svg: chromium took over 60 s"
        die "$name.svg: chromium exited $status and wrote no screenshot"
    fi
    pairs+=("$svg" "$png")
done
"$PYTHON" "$CHECKER" check "${pairs[@]}"
