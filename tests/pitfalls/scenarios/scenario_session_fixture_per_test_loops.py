"""Pitfall: the app's lifespan in a pytest-asyncio session fixture, on the session loop; tests on per-test loops.

Whichever plugin runs a test, pytest-asyncio or anyio, it gets a loop of its own unless told otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from loopsafe_mongo import RunningApp, run_lifespan

from app.main import create_app
from app.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def running_app() -> AsyncIterator[RunningApp]:
    # Started once for speed, on the session loop: the client is created and first used there.
    async with run_lifespan(create_app(Settings())) as running:
        yield running


async def get(running_app: RunningApp, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=running_app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path)


@pytest.mark.asyncio
async def test_items_start_empty(running_app: RunningApp) -> None:
    response = await get(running_app, "/items")
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.anyio
async def test_unknown_item_is_not_found(running_app: RunningApp) -> None:
    response = await get(running_app, "/items/000000000000000000000000")
    assert response.status_code == 404
