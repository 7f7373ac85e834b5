"""A slow or cut connection to a real server: a bounded 503, then recovery with no restart.

A FaultProxy (tests/support/proxy.py) sits between the app and a private FerretDB server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from app.settings import Driver
from tests.support.api import assert_problem, create_item
from tests.support.apps import serve_app, short_budget_settings
from tests.support.proxy import FaultProxy, fault_proxy
from tests.support.servers import ferretdb_server

pytestmark = pytest.mark.anyio

BUDGET_MS = 400
HANG_GUARD_S = 10 * BUDGET_MS / 1000  # a bound on hanging, not a speed target


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
    with anyio.fail_after(30):
        while (response := await client.get(path)).status_code != 200:
            assert response.status_code == 503, response.text
            await anyio.sleep(0.1)
        return response


async def test_a_stalled_database_gives_503_within_the_budget(client: httpx.AsyncClient, proxy: FaultProxy) -> None:
    item = await create_item(client, "steady")
    proxy.stall()

    with anyio.fail_after(HANG_GUARD_S):
        read = await client.get(f"/items/{item['id']}")
        write = await client.patch(f"/items/{item['id']}", json={"quantity": 1})
        ready = await client.get("/health/ready")

    for response in (read, write, ready):
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
    with anyio.fail_after(HANG_GUARD_S):
        response = await client.get(f"/items/{item['id']}")
    assert response.status_code in {200, 503}
    if response.status_code == 503:
        assert_problem(response, 503)
    assert (await _recovered(client, f"/items/{item['id']}")).json() == item
