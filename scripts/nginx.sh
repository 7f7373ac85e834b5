#!/usr/bin/env bash
# The front proxy's nginx outside Docker: its configuration rendered from the shipped template, and, for
# the front-proxy tests (tests/test_front_proxy.py), nginx itself from Debian's package registry, without
# installing it system-wide: the package is unpacked into .cache/nginx/ and nothing else is touched.
#
# Usage: scripts/nginx.sh fetch|render
#   fetch   Downloads and unpacks the nginx package (apt-get download, dpkg -x) unless
#           .cache/nginx/usr/sbin/nginx is already there; prints the binary's path either way. Needs a
#           Debian or Ubuntu system (apt-get, dpkg); the binary uses the system's own libraries (libssl,
#           libpcre2, zlib).
#   render  Prints deploy/nginx/nginx.conf.template with its setting filled in, as the official nginx
#           image does at start in docker-compose.yml: PROXY_CONNECTIONS_PER_CLIENT (default 32; 1 to
#           65535, and 65535 turns the limit off in effect). Nothing else in the file is replaced, so
#           nginx's own $variables stay as written.
#           Example: PROXY_CONNECTIONS_PER_CLIENT=256 scripts/nginx.sh render > /etc/nginx/nginx.conf
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.cache/nginx"
BIN="$DIR/usr/sbin/nginx"
TEMPLATE="$ROOT/deploy/nginx/nginx.conf.template"

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

cmd_render() {
    local limit="${PROXY_CONNECTIONS_PER_CLIENT:-32}" text
    # nginx's own bounds for limit_conn, checked here so that the message names the setting.
    if ! [[ "$limit" =~ ^[1-9][0-9]{0,4}$ && "$limit" -le 65535 ]]; then
        die "PROXY_CONNECTIONS_PER_CLIENT must be a number from 1 to 65535 (65535 turns the limit off), not '$limit'"
    fi
    text="$(<"$TEMPLATE")"
    # What the image's envsubst does with the one variable the template uses (docker-compose.yml lets it
    # substitute only PROXY_ variables), without needing gettext's envsubst here.
    printf '%s\n' "${text//'${PROXY_CONNECTIONS_PER_CLIENT}'/$limit}"
}

case "${1:-}" in
fetch) cmd_fetch ;;
render) cmd_render ;;
*) die "usage: $0 fetch|render (see the comment at the top of the script)" ;;
esac
