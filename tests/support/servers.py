"""A private FerretDB server a test can stop and start for real, and the server-gap markers.

Fault tests need a server they own: stopping the shared one would break every other test. Each gets
its own process, port and data directory, from the binary `scripts/ferretdb.sh build` makes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

ROOT = Path(__file__).resolve().parents[2]
FERRETDB_BIN = Path(os.environ.get("FERRETDB_BIN", ROOT / ".cache" / "ferretdb" / "bin" / "ferretdb"))
START_TIMEOUT_S = 30
# How long a stopped FerretDB may take to close the connections still open before it is killed (stop()).
STOP_GRACE_S = 0.25


def require_binary(binary: Path, how_to_get_it: str) -> None:
    """Skip, saying why, when a program a test needs is missing; fail instead when CI says every test
    must run (REQUIRE_ALL_TESTS=1)."""
    if binary.exists():
        return
    reason = f"needs {binary}: {how_to_get_it}"
    if os.environ.get("REQUIRE_ALL_TESTS") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def require_ferretdb_binary() -> None:
    require_binary(FERRETDB_BIN, "run `scripts/ferretdb.sh build` (Go required)")


def serves_health(port: int) -> bool:
    """True when something on 127.0.0.1:`port` answers GET /health/live with 200 (a blocking probe)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until_serving(
    process: subprocess.Popen[bytes] | subprocess.Popen[str], port: int, what: str, timeout_s: float = 60
) -> None:
    """Block until `process` (an API server) answers on `port`; fail saying so if it exits or is late."""
    deadline = time.monotonic() + timeout_s
    while not serves_health(port):
        assert process.poll() is None, f"{what} exited with {process.returncode} before answering"
        assert time.monotonic() < deadline, f"{what} did not answer on port {port} within {timeout_s:g} s"
        time.sleep(0.1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FerretServer:
    """One FerretDB process on a loopback port; `stop()` and `start()` again keep its data."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"mongodb://127.0.0.1:{self.port}/"
        self._process: Process | None = None

    async def start(self) -> None:
        command = [str(FERRETDB_BIN), "-listen", f"127.0.0.1:{self.port}", "-data", str(self.data_dir)]
        self._process = await anyio.open_process(command)
        with anyio.move_on_after(START_TIMEOUT_S):
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", self.port)
                except OSError:
                    await anyio.sleep(0.02)
                else:
                    await stream.aclose()
                    return
        raise TimeoutError(f"FerretDB did not accept connections on port {self.port} within {START_TIMEOUT_S} s")

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections open and answers nothing, as a hung database does."""
        self._running().send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._running().send_signal(signal.SIGCONT)

    def _running(self) -> Process:
        if self._process is None:
            raise RuntimeError("the FerretDB server is not running")
        return self._process

    async def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill does: no goodbye to open connections. `start()` brings it back."""
        process, self._process = self._running(), None
        process.kill()
        await self._reap(process, "SIGKILL")

    async def stop(self) -> None:
        """A real stop: SIGTERM (the listener closes at once), the connections still open closed within
        STOP_GRACE_S, and wait for the process to exit.

        After SIGTERM FerretDB goes on serving connected clients for 3 s (a grace period of its own that no
        setting changes) and then closes their connections: with the app's pool open, every stop cost those
        3 s, and the app saw the same closed connections, only later. Past STOP_GRACE_S the process is
        killed instead: a write it acknowledged is in its SQLite files already, and no process's end loses it.
        """
        if self._process is None:
            return
        process, self._process = self._process, None
        process.send_signal(signal.SIGCONT)  # a frozen process would not act on SIGTERM
        process.terminate()
        with anyio.move_on_after(STOP_GRACE_S):
            await process.wait()
        if process.returncode is None:
            process.kill()
        await self._reap(process, "SIGTERM")

    async def _reap(self, process: Process, signal_name: str) -> None:
        with anyio.move_on_after(START_TIMEOUT_S):
            await process.wait()
            await process.aclose()
            return
        raise TimeoutError(f"FerretDB on port {self.port} did not exit within {START_TIMEOUT_S} s of {signal_name}")


@asynccontextmanager
async def ferretdb_server(data_dir: Path) -> AsyncIterator[FerretServer]:
    require_ferretdb_binary()
    server = FerretServer(data_dir)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
