"""`python3 scripts/dev.py serve` stopped by SIGTERM while clients keep sending: every request is answered.

During the drain (SHUTDOWN_DRAIN_S) readiness answers 503 and the server goes on answering; then the
listening socket closes, and a connection attempt is refused: the client knows its request was never sent.
What must never happen is a request sent and then cut with no answer (a reset, a close without response).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import partial

import anyio
import anyio.to_thread
import httpx
import pytest
import uvicorn

from app import serve
from app.main import create_app
from app.settings import Settings
from scripts import dev
from tests.support.api import assert_problem
from tests.support.servers import free_port, wait_until_serving
from tests.support.waits import within

pytestmark = pytest.mark.anyio

# Long enough that every client sees readiness 503 while the server still answers; not a speed target.
DRAIN_S = 2
CLIENTS = 8
# Bounds on hanging, not speed targets.
START_TIMEOUT_S = 60
EXIT_TIMEOUT_S = 60


@dataclass
class Outcomes:
    """What one client got, in order: status codes, then why it stopped."""

    statuses: list[int] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)


async def _send_until_refused(
    port: int, keep_alive: bool, outcomes: Outcomes, process: subprocess.Popen[bytes]
) -> None:
    """GET /health/ready over and over, on one keep-alive connection or a new connection each time, until the
    server refuses a connection or the process has exited."""
    limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:
        while process.poll() is None:
            try:
                response = await http.get("/health/ready")
            except httpx.ConnectError:
                # Refused: nothing was sent. Fine once readiness has said the server is going away.
                if 503 not in outcomes.statuses:
                    outcomes.cut.append("connection refused before readiness said 503")
                return
            except httpx.TransportError as exc:
                outcomes.cut.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code == 503:
                assert_problem(response, 503)
                assert response.headers["retry-after"].isdigit()
            outcomes.statuses.append(response.status_code)


def _serve(port: int, drain_s: float) -> subprocess.Popen[bytes]:
    """`dev.py serve` on `port`, in memory, with SHUTDOWN_DRAIN_S=`drain_s`."""
    env = {**os.environ, "SHUTDOWN_DRAIN_S": str(drain_s), "MONGODB_URL": ""}
    return subprocess.Popen(  # noqa: S603 - this interpreter, running our own script
        [sys.executable, str(dev.ROOT / "scripts" / "dev.py"), "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_exit(process: subprocess.Popen[bytes], after: str) -> None:
    try:
        process.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"dev.py serve did not exit within {EXIT_TIMEOUT_S} s of {after}") from None


async def test_requests_sent_across_a_sigterm_all_get_an_answer() -> None:
    port = free_port()
    process = _serve(port, DRAIN_S)
    clients = [Outcomes() for _ in range(CLIENTS)]
    try:
        wait_until_serving(process, port, "dev.py serve", START_TIMEOUT_S)
        async with anyio.create_task_group() as tasks:
            for number, outcomes in enumerate(clients):
                tasks.start_soon(_send_until_refused, port, number % 2 == 0, outcomes, process)
            # Every client is answered before the signal, so the signal lands among requests under way.
            with within(START_TIMEOUT_S, "an answer to every client before the SIGTERM"):
                while not all(outcomes.statuses for outcomes in clients):  # noqa: ASYNC110 - polling the clients' records
                    await anyio.sleep(0.01)
            process.send_signal(signal.SIGTERM)
        _wait_for_exit(process, "SIGTERM")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    cut = [reason for outcomes in clients for reason in outcomes.cut]
    assert cut == [], f"requests cut with no answer across the SIGTERM: {cut}"
    assert all(set(outcomes.statuses) <= {200, 503} for outcomes in clients)
    assert all(503 in outcomes.statuses for outcomes in clients), "a client never saw readiness say 503"


# Far longer than EXIT_TIMEOUT_S: exiting within that bound means the drain was skipped or cut short.
LONG_DRAIN_S = 300


def _readiness_status(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _wait_until_draining(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while _readiness_status(port) != 503:
        assert process.poll() is None, "dev.py serve exited instead of draining"
        assert time.monotonic() < deadline, f"readiness did not turn 503 within {START_TIMEOUT_S} s of SIGTERM"
        time.sleep(0.05)


def test_ctrl_c_stops_the_server_without_a_drain() -> None:
    port = free_port()
    process = _serve(port, LONG_DRAIN_S)
    try:
        wait_until_serving(process, port, "dev.py serve", START_TIMEOUT_S)
        process.send_signal(signal.SIGINT)
        _wait_for_exit(process, "SIGINT")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_sigterm_ends_the_drain() -> None:
    port = free_port()
    process = _serve(port, LONG_DRAIN_S)
    try:
        wait_until_serving(process, port, "dev.py serve", START_TIMEOUT_S)
        process.send_signal(signal.SIGTERM)
        _wait_until_draining(process, port)
        process.send_signal(signal.SIGTERM)
        _wait_for_exit(process, "the second SIGTERM")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_command_line_is_uvicorns(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        serve.main(["--help"])

    assert exited.value.code == 0
    assert "--timeout-graceful-shutdown" in capsys.readouterr().out


async def test_during_the_drain_readiness_is_503_and_every_response_closes_its_connection(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In this process, for coverage; the server runs on a thread of its own, where uvicorn installs no
    # signal handlers (and so raises no caught signal again in pytest's process when it ends).
    monkeypatch.setenv("SHUTDOWN_DRAIN_S", "1")
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = serve.DrainingServer(config)

    with within(EXIT_TIMEOUT_S, "the server starting, draining, then shutting down by itself"):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http, anyio.create_task_group() as tasks:
            tasks.start_soon(partial(anyio.to_thread.run_sync, server.run, abandon_on_cancel=True))
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
                await anyio.sleep(0.01)
            assert (await http.get("/health/ready")).status_code == 200

            server.handle_exit(signal.SIGTERM, None)  # what the signal does

            ready, live = await http.get("/health/ready"), await http.get("/health/live")
            assert_problem(ready, 503)
            assert ready.headers["retry-after"].isdigit()
            assert live.status_code == 200
            assert ready.headers["connection"] == live.headers["connection"] == "close"
        # The task group has waited for server.run to return: the drain ended and uvicorn shut down.
