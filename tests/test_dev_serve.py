"""`python3 scripts/dev.py serve` is the server itself: a SIGTERM to the pid the user started stops uvicorn."""

from __future__ import annotations

import signal
import subprocess
import sys

from scripts import dev
from tests.support.servers import free_port, serves_health, wait_until_serving

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
        wait_until_serving(process, port, "dev.py serve", START_TIMEOUT_S)

        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"dev.py serve did not exit within {START_TIMEOUT_S} s of SIGTERM") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert not serves_health(port), "something still serves on the port after the serve command exited"
