"""What only a real server shows: a real stop gives a bounded 503, a restart heals by itself, no write is lost.

Each test owns a FerretDB process (tests/support/servers.py), so stopping it disturbs no other test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.settings import Driver
from tests.support.api import assert_problem, create_item, get_until_ok
from tests.support.apps import serve_app, short_budget_settings
from tests.support.servers import FerretServer, ferretdb_server
from tests.support.waits import answered_within

pytestmark = pytest.mark.anyio

BUDGET_MS = 500
# Bounds on hanging, not speed targets (bench/bench_latency.py measures latency): wide, for a loaded machine.
HANG_GUARD_S = 30
RECOVERY_GUARD_S = 30


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[FerretServer]:
    async with ferretdb_server(tmp_path / "data") as running:
        yield running


@pytest.fixture(params=list(Driver))
async def client(server: FerretServer, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The app with each driver on the private server, with short budgets."""
    settings = short_budget_settings(server.url, budget_ms=BUDGET_MS, driver=request.param, mongodb_db="faults")
    async with serve_app(settings) as http:
        yield http


async def _wait_until_ok(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await answered_within(
        RECOVERY_GUARD_S, f"a 200 from {path} after the server came back", get_until_ok(client, path)
    )


async def test_a_stopped_server_gives_503_with_retry_after(client: httpx.AsyncClient, server: FerretServer) -> None:
    item = await create_item(client, "before")
    await server.stop()

    async def requests() -> list[httpx.Response]:
        return [
            await client.get(f"/items/{item['id']}"),
            await client.post("/items", json={"name": "during"}),
            await client.get("/health/ready"),
        ]

    answers = await answered_within(HANG_GUARD_S, "an answer to each request while the server is stopped", requests())

    for response in answers:
        assert_problem(response, 503)
        assert response.headers["retry-after"].isdigit()
    assert (await client.get("/health/live")).status_code == 200


async def test_the_app_recovers_by_itself_when_the_server_returns(
    client: httpx.AsyncClient, server: FerretServer
) -> None:
    item = await create_item(client, "before")
    await server.stop()
    assert_problem(await client.get(f"/items/{item['id']}"), 503)

    await server.start()

    await _wait_until_ok(client, "/health/ready")
    assert (await client.get(f"/items/{item['id']}")).json() == item
    assert (await client.post("/items", json={"name": "after"})).status_code == 201


async def test_no_acknowledged_write_is_lost_across_a_restart(client: httpx.AsyncClient, server: FerretServer) -> None:
    created = [await create_item(client, f"item-{n}") for n in range(30)]
    updated = (await client.patch(f"/items/{created[0]['id']}", json={"quantity": 7})).json()
    await client.delete(f"/items/{created[1]['id']}")

    await server.stop()
    await server.start()

    page = (await _wait_until_ok(client, "/items?limit=100")).json()
    assert page["items"] == [updated, *created[2:]]


async def test_startup_with_the_server_down_refuses_writes_until_indexes_exist(server: FerretServer) -> None:
    await server.stop()
    settings = short_budget_settings(server.url, budget_ms=BUDGET_MS, mongodb_db="late")
    async with serve_app(settings) as client:
        assert_problem(await client.post("/items", json={"name": "early"}), 503)

        await server.start()

        await _wait_until_ok(client, "/health/ready")
        assert (await client.post("/items", json={"name": "late"})).status_code == 201
        assert (await client.post("/items", json={"name": "late"})).status_code == 409
