"""Pitfall (pytest-asyncio): a suite on one session loop, where one test carries its own marker and its own loop.

The module marker puts every test on the session loop; a bare @pytest.mark.asyncio on a test overrides it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from loopsafe_mongo import RunningApp, run_lifespan

from app.main import create_app
from app.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def running_app() -> AsyncIterator[RunningApp]:
    async with run_lifespan(create_app(Settings())) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def http(running_app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running_app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_items_start_empty(http: httpx.AsyncClient) -> None:
    response = await http.get("/items")
    assert response.status_code == 200


@pytest.mark.asyncio  # the pitfall: copied from a per-test-loop suite, it puts this test on a loop of its own
async def test_unknown_item_is_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/items/000000000000000000000000")
    assert response.status_code == 404


async def test_liveness_needs_no_database(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/live")
    assert response.status_code == 200
