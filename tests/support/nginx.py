"""The shipped front proxy (deploy/nginx/nginx.conf.template) run for real, in front of a port a test chooses.

The binary is Debian's nginx, unpacked by `scripts/nginx.sh fetch` (or NGINX_BIN); the configuration is
what `scripts/nginx.sh render` makes of the template. Each proxy gets its own directory, port and error
log, so tests can read what nginx logged and never share a process.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import Process

from tests.support.servers import free_port, require_binary

ROOT = Path(__file__).resolve().parents[2]
NGINX_BIN = Path(os.environ.get("NGINX_BIN", ROOT / ".cache" / "nginx" / "usr" / "sbin" / "nginx"))
SHIPPED_TEMPLATE = ROOT / "deploy" / "nginx" / "nginx.conf.template"
NGINX_SH = ROOT / "scripts" / "nginx.sh"
# The template's one setting, an environment variable of `scripts/nginx.sh render` and docker-compose.yml.
CONNECTIONS_SETTING = "PROXY_CONNECTIONS_PER_CLIENT"
START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 10

# What the rendered file says, as users run it, and what a test run needs instead: its own port, the
# upstream the test started, and temporary directories in place of the official image's
# /var/cache/nginx (Debian's binary would otherwise use its compiled-in /var/lib/nginx); and, when a
# test asks, the two client timeouts. Nothing else is changed: every other limit is the shipped one.
SHIPPED_LISTEN = "listen 127.0.0.1:8080;"
SHIPPED_UPSTREAM = "server 127.0.0.1:8000;"
SHIPPED_TEMP_DIR = "/var/cache/nginx/"
# The client timeouts, which the tests may shorten so as not to wait 10 s twice; a test checks the
# shipped values themselves.
SHIPPED_CLIENT_TIMEOUTS = ("client_header_timeout 10s;", "client_body_timeout 10s;")


def require_nginx_binary() -> None:
    require_binary(NGINX_BIN, "run `scripts/nginx.sh fetch` (Debian or Ubuntu)")


def render(connections_per_client: str | None = None) -> subprocess.CompletedProcess[str]:
    """`scripts/nginx.sh render`, with the setting given as this value, or unset (its default) for None."""
    env = {key: value for key, value in os.environ.items() if key != CONNECTIONS_SETTING}
    if connections_per_client is not None:
        env[CONNECTIONS_SETTING] = connections_per_client
    return subprocess.run(  # noqa: S603 - our script, fixed arguments
        [str(NGINX_SH), "render"], env=env, capture_output=True, text=True, check=False, timeout=30
    )


def render_config(
    directory: Path,
    port: int,
    upstream_port: int,
    client_timeout_s: int | None = None,
    connections_per_client: int | None = None,
) -> Path:
    """The template as `scripts/nginx.sh render` fills it in (with `connections_per_client` as the setting,
    or its default), with this run's port, upstream and temporary directories (and, if given, its header
    and body timeouts); returns its path."""
    rendered = render(None if connections_per_client is None else str(connections_per_client))
    if rendered.returncode != 0:
        raise AssertionError(f"scripts/nginx.sh render failed: {rendered.stderr}")
    text = rendered.stdout
    for shipped in (SHIPPED_LISTEN, SHIPPED_UPSTREAM, SHIPPED_TEMP_DIR, *SHIPPED_CLIENT_TIMEOUTS):
        if shipped not in text:
            raise AssertionError(
                f"{SHIPPED_TEMPLATE} no longer contains `{shipped}`, which tests/support/nginx.py replaces"
            )
    text = text.replace(SHIPPED_LISTEN, f"listen 127.0.0.1:{port};")
    text = text.replace(SHIPPED_UPSTREAM, f"server 127.0.0.1:{upstream_port};")
    text = text.replace(SHIPPED_TEMP_DIR, f"{directory}/")
    if client_timeout_s is not None:
        for shipped in SHIPPED_CLIENT_TIMEOUTS:
            text = text.replace(shipped, shipped.replace("10s", f"{client_timeout_s}s"))
    config = directory / "nginx.conf"
    config.write_text(text)
    return config


def command(directory: Path, config: Path, *args: str) -> list[str]:
    # pid: the compiled-in /run/nginx.pid is shared and may not be writable. daemon off: the process we
    # start is the master, so we can signal it and wait for it.
    directives = f"pid {directory}/nginx.pid; daemon off;"
    return [str(NGINX_BIN), "-p", f"{directory}/", "-c", str(config), "-e", "stderr", "-g", directives, *args]


def check_config(directory: Path, connections_per_client: int | None = None) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the rendered file (addresses and paths substituted as for a run)."""
    require_nginx_binary()
    config = render_config(directory, free_port(), free_port(), connections_per_client=connections_per_client)
    argv = command(directory, config, "-t")
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603 - our nginx, fixed arguments


@dataclass
class Nginx:
    port: int
    error_log: Path

    def log_lines(self) -> list[str]:
        return self.error_log.read_text(errors="replace").splitlines()


async def _wait_listening(port: int, process: Process, error_log: Path) -> None:
    with anyio.move_on_after(START_TIMEOUT_S):
        while process.returncode is None:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.02)
            else:
                await stream.aclose()
                return
        log = await anyio.Path(error_log).read_text()
        raise RuntimeError(f"nginx exited with {process.returncode} before listening:\n{log}")
    log = await anyio.Path(error_log).read_text()
    raise TimeoutError(f"nginx did not listen on port {port} within {START_TIMEOUT_S} s:\n{log}")


@asynccontextmanager
async def nginx_proxy(
    directory: Path,
    upstream_port: int,
    *,
    open_files_soft_limit: int | None = None,
    client_timeout_s: int | None = None,
    connections_per_client: int | None = None,
) -> AsyncIterator[Nginx]:
    """nginx with the shipped configuration on a free port, forwarding to `upstream_port` on 127.0.0.1;
    `connections_per_client` is the template's setting (None: its default).

    Its stderr, where the shipped `error_log stderr` writes, is `Nginx.error_log`. `open_files_soft_limit`
    starts nginx with that soft RLIMIT_NOFILE (the hard limit is kept), as a service manager or container
    often does with 1024, so that what the configuration does about it is what gets tested.
    """
    require_nginx_binary()
    port = free_port()
    config = render_config(directory, port, upstream_port, client_timeout_s, connections_per_client)
    argv = command(directory, config)
    if open_files_soft_limit is not None:
        argv = ["/bin/sh", "-c", f'ulimit -S -n {open_files_soft_limit} && exec "$@"', "sh", *argv]
    error_log = directory / "error.log"
    with error_log.open("wb") as log:
        process = await anyio.open_process(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    try:
        await _wait_listening(port, process, error_log)
        yield Nginx(port=port, error_log=error_log)
    finally:
        await _stop(process, port)


async def _stop(process: Process, port: int) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)  # fast shutdown: open client connections are closed, not waited for
    with anyio.move_on_after(STOP_TIMEOUT_S):
        await process.wait()
        await process.aclose()
        return
    process.kill()
    await process.aclose()
    raise TimeoutError(f"nginx on port {port} did not exit within {STOP_TIMEOUT_S} s of SIGTERM (killed)")
