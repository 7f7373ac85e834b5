"""Under a real uvicorn, an app whose database is down at startup listens before the driver gives up on it.

The server selection timeout is set far above the wait, so listening within the wait means the startup
did not wait for the driver's first index attempt to fail (it did before: the app was deaf that long).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn

from app.main import create_app
from app.settings import Driver, Settings
from tests.support.api import assert_problem
from tests.support.servers import FerretServer, ferretdb_server, free_port
from tests.support.waits import answered_within, within

pytestmark = pytest.mark.anyio

# The driver waits this long for a server before an operation fails ...
SERVER_SELECTION_TIMEOUT_MS = 30_000
# ... and the app must listen well within it: a bound on "before the driver gives up", not a speed target.
LISTEN_WITHIN_S = 15
# Bounds on hanging, not speed targets.
RECOVERY_GUARD_S = 30


@pytest.fixture
async def stopped_server(tmp_path: Path) -> AsyncIterator[FerretServer]:
    """A private FerretDB, stopped: its port refuses connections until the test starts it again."""
    async with ferretdb_server(tmp_path / "data") as server:
        await server.stop()
        yield server


@pytest.fixture(params=list(Driver))
def settings(stopped_server: FerretServer, request: pytest.FixtureRequest) -> Settings:
    return Settings.model_validate(
        {
            "mongodb_url": stopped_server.url,
            "mongodb_driver": request.param,
            "mongodb_db": "down_at_start",
            "mongodb_timeout_ms": SERVER_SELECTION_TIMEOUT_MS,
            "mongodb_server_selection_timeout_ms": SERVER_SELECTION_TIMEOUT_MS,
        }
    )


async def _started(server: uvicorn.Server) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await anyio.sleep(0.01)


async def test_the_app_listens_and_refuses_writes_before_the_driver_gives_up_on_a_down_database(
    settings: Settings, stopped_server: FerretServer
) -> None:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http, anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        with within(LISTEN_WITHIN_S, "listening before the driver's server selection timeout, database down,"):
            await _started(server)
        assert (await http.get("/health/live")).status_code == 200
        # Refused by the index gate, without a database call. (Not readiness: its ping, abandoned after
        # READY_TIMEOUT_MS, would keep the breaker waiting for MONGODB_TIMEOUT_MS, here 30 s.)
        refused = await http.post("/items", json={"name": "early"})
        assert_problem(refused, 503)
        assert refused.headers["retry-after"].isdigit()

        # The attempt started at startup is still waiting for a server: it finds this one, and writes begin.
        await stopped_server.start()

        async def write_until_created() -> httpx.Response:
            while (response := await http.post("/items", json={"name": "late"})).status_code == 503:  # noqa: ASYNC110 - polling over HTTP
                await anyio.sleep(0.1)
            return response

        created = await answered_within(
            RECOVERY_GUARD_S, "a write taken after the database started", write_until_created()
        )
        assert created.status_code == 201
        server.should_exit = True
