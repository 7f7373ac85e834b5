#!/usr/bin/env bash
# nginx for the front-proxy tests (tests/test_front_proxy.py), from Debian's package registry, without
# installing it system-wide: the package is unpacked into .cache/nginx/ and nothing else is touched.
#
# Usage: scripts/nginx.sh fetch
#   Downloads and unpacks the nginx package (apt-get download, dpkg -x) unless .cache/nginx/usr/sbin/nginx
#   is already there; prints the binary's path either way. Needs a Debian or Ubuntu system (apt-get,
#   dpkg); the binary uses the system's own libraries (libssl, libpcre2, zlib).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.cache/nginx"
BIN="$DIR/usr/sbin/nginx"

die() { echo "nginx.sh: $*" >&2; exit 1; }

cmd_fetch() {
    if [[ ! -x "$BIN" ]]; then
        if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
            die "needs apt-get and dpkg (Debian or Ubuntu)"
        fi
        local download
        download="$(mktemp -d)"
        # apt-get download writes into the current directory; _apt cannot write to a root-owned mktemp
        # directory, so apt falls back to downloading as root (and says so on stderr).
        # A fresh machine may have no package lists yet: refresh them once (root only) and try again.
        if ! (cd "$download" && apt-get download -q nginx >&2); then
            if [[ $(id -u) -eq 0 ]]; then apt-get update -q >&2 || true; fi
            (cd "$download" && apt-get download -q nginx >&2) || { rm -rf "$download"; die "apt-get download nginx failed (as root, run apt-get update first)"; }
        fi
        mkdir -p "$DIR"
        dpkg -x "$download"/nginx_*.deb "$DIR"
        rm -rf "$download"
        [[ -x "$BIN" ]] || die "the nginx package did not contain usr/sbin/nginx"
    fi
    echo "$BIN"
}

case "${1:-}" in
fetch) cmd_fetch ;;
*) die "usage: $0 fetch (see the comment at the top of the script)" ;;
esac
