"""Exercise 6: one lifespan for the session, on pytest-asyncio's session loop; each test on a loop of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from loopsafe_mongo import RunningApp, run_lifespan

from app import create_app


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def running() -> AsyncIterator[RunningApp]:
    # Started once for the whole run, on pytest-asyncio's session loop: the client is made there.
    async with run_lifespan(create_app()) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def http(running: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.asyncio
async def test_list_starts_empty(http: httpx.AsyncClient) -> None:
    assert (await http.get("/items")).json() == []


@pytest.mark.asyncio
async def test_added_item_is_listed(http: httpx.AsyncClient) -> None:
    assert (await http.post("/items", json={"name": "lamp"})).status_code == 201
    assert (await http.get("/items")).json() == ["lamp"]
