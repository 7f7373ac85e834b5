"""Graceful shutdown under a real ASGI server: requests in flight finish, then the client is closed."""

from __future__ import annotations

import anyio
import httpx
import pytest
import uvicorn

import app.database
from app.database import Client
from app.deps import DatabaseDep, get_items
from app.main import create_app
from app.repository import ItemRepository
from app.settings import Settings
from tests.support.api import create_item
from tests.support.servers import free_port
from tests.support.waits import within

pytestmark = pytest.mark.anyio


async def test_shutdown_lets_in_flight_requests_finish_before_closing_the_client(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    arrived, release = anyio.Event(), anyio.Event()
    real_close = app.database.close_client

    async def recording_close(client: Client, *, may_block: bool = True) -> None:
        events.append("client closed")
        await real_close(client, may_block=may_block)

    async def held_items(db: DatabaseDep) -> ItemRepository:
        # Holds the request inside the app until the test lets it go.
        arrived.set()
        await release.wait()
        return ItemRepository(db)

    monkeypatch.setattr(app.database, "close_client", recording_close)
    application = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning"))

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http, anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        with within(10, "uvicorn starting"):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
                await anyio.sleep(0.01)
        item = await create_item(http, "in-flight")
        application.dependency_overrides[get_items] = held_items

        async def request_in_flight() -> None:
            response = await http.get(f"/items/{item['id']}")
            events.append(f"response {response.status_code}")

        tasks.start_soon(request_in_flight)
        await arrived.wait()
        server.should_exit = True
        await anyio.sleep(0.3)  # give the server time to start shutting down
        assert events == [], "the client was closed while a request was still in flight"
        release.set()

    assert events == ["response 200", "client closed"]
