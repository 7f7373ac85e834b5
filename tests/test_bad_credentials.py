"""Wrong credentials in MONGODB_URL: the app starts and answers 503, as for a database that is down, and
logs one line naming the setting instead of exiting with a traceback.

A deliberate choice (app.database.is_unavailable says why): credentials are fixed on the server as often
as in the app's settings, and an app that exits takes its liveness down with it. The database is the
wire-protocol test double, which answers any login with MongoDB's AuthenticationFailed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from app.settings import Driver
from tests.support.api import assert_problem
from tests.support.servers import ROOT, free_port, wait_until_serving
from tests.support.wire_server import wire_server

PASSWORD = "not-the-password"
STOP_TIMEOUT_S = 15


@pytest.fixture(params=list(Driver))
def served_with_wrong_password(request: pytest.FixtureRequest) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`uvicorn app.main:app` with a wrong password for the database: (port, process), stopped after the test."""
    with wire_server() as url:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MONGODB_")}
        env |= {
            "MONGODB_URL": url.replace("mongodb://", f"mongodb://items:{PASSWORD}@"),
            "MONGODB_DRIVER": request.param,
        }
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--no-access-log"]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)  # noqa: S603 - our own command
        try:
            wait_until_serving(process, port, "uvicorn with a wrong password")
            yield port, process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(STOP_TIMEOUT_S)


def test_the_app_starts_answers_503_and_logs_one_line_naming_the_setting(
    served_with_wrong_password: tuple[int, subprocess.Popen[str]],
) -> None:
    port, process = served_with_wrong_password
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        ready = client.get("/health/ready")
        write = client.post("/items", json={"name": "bolt"})
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=STOP_TIMEOUT_S)

    assert_problem(ready, 503)
    assert_problem(write, 503)
    assert "Traceback" not in log, log
    assert "the database refused the user and password in MONGODB_URL" in log, log
    assert PASSWORD not in log
