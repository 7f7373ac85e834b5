"""Exercise 4: requests go straight to the app (no lifespan); the app caches the client of the first request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # ASGITransport never runs the app's lifespan: fine here only because this app has none.
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_added_item_is_listed(http: httpx.AsyncClient) -> None:
    response = await http.post("/items", json={"name": "lamp"})
    assert response.status_code == 201
    assert (await http.get("/items")).json() == ["lamp"]


async def test_list_starts_empty(http: httpx.AsyncClient) -> None:
    assert (await http.get("/items")).json() == []
