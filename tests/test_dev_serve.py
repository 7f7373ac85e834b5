"""`python3 scripts/dev.py serve` is the server itself: a SIGTERM to the pid the user started stops uvicorn."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

from scripts import dev
from tests.support.servers import free_port

START_TIMEOUT_S = 60


def test_sigterm_to_the_serve_command_stops_the_server_and_frees_the_port() -> None:
    port = free_port()
    # uvicorn takes the last --port given, so the test's free port wins over dev.py's 8000.
    process = subprocess.Popen(  # noqa: S603 - this interpreter, running our own script
        [sys.executable, str(dev.ROOT / "scripts" / "dev.py"), "serve", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            assert process.poll() is None, f"dev.py serve exited with {process.returncode} before answering"
            assert time.monotonic() < deadline, f"the server did not answer on port {port} within {START_TIMEOUT_S} s"
            time.sleep(0.1)

        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"dev.py serve did not exit within {START_TIMEOUT_S} s of SIGTERM") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert not _answers(port), "something still serves on the port after the serve command exited"


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
