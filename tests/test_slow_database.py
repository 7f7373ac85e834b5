"""A slow or cut connection to a real server: a bounded 503, then recovery with no restart.

A FaultProxy (tests/support/proxy.py) sits between the app and a private FerretDB server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.settings import Driver
from tests.support.api import assert_problem, create_item, get_until_ok
from tests.support.apps import serve_app, short_budget_settings
from tests.support.proxy import FaultProxy, fault_proxy
from tests.support.servers import ferretdb_server
from tests.support.waits import answered_within

pytestmark = pytest.mark.anyio

BUDGET_MS = 400
# Bounds on hanging, not speed targets (bench/bench_latency.py measures latency): wide, for a loaded machine.
HANG_GUARD_S = 30
RECOVERY_GUARD_S = 30


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[FaultProxy]:
    async with ferretdb_server(tmp_path / "data") as server, fault_proxy(server.port) as running:
        yield running


@pytest.fixture(params=list(Driver))
async def client(proxy: FaultProxy, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    settings = short_budget_settings(proxy.url, budget_ms=BUDGET_MS, driver=request.param, mongodb_db="slow")
    async with serve_app(settings) as http:
        yield http


async def _recovered(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await answered_within(
        RECOVERY_GUARD_S, f"a 200 from {path} after the fault ended", get_until_ok(client, path)
    )


async def test_a_stalled_database_gives_503_not_a_hang(client: httpx.AsyncClient, proxy: FaultProxy) -> None:
    item = await create_item(client, "steady")
    proxy.stall()

    async def requests() -> list[httpx.Response]:
        return [
            await client.get(f"/items/{item['id']}"),
            await client.patch(f"/items/{item['id']}", json={"quantity": 1}),
            await client.get("/health/ready"),
        ]

    answers = await answered_within(HANG_GUARD_S, "an answer to each request while the database is stalled", requests())

    for response in answers:
        assert_problem(response, 503)


async def test_the_app_recovers_when_a_stall_ends(client: httpx.AsyncClient, proxy: FaultProxy) -> None:
    item = await create_item(client, "steady")
    proxy.stall()
    assert_problem(await client.get(f"/items/{item['id']}"), 503)

    proxy.heal()

    assert (await _recovered(client, f"/items/{item['id']}")).json() == item


async def test_cut_connections_give_503_or_success_and_then_recover(
    client: httpx.AsyncClient, proxy: FaultProxy
) -> None:
    item = await create_item(client, "steady")

    proxy.cut()

    # A driver may retry a read once on a fresh connection, so the first read after a cut may succeed.
    response = await answered_within(
        HANG_GUARD_S, "an answer to a read after the connections were cut", client.get(f"/items/{item['id']}")
    )
    assert response.status_code in {200, 503}
    if response.status_code == 503:
        assert_problem(response, 503)
    assert (await _recovered(client, f"/items/{item['id']}")).json() == item
