"""Exercise 4, solved: the plugin's `client` fixture runs the app's lifespan on each test's loop."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_added_item_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "lamp"})
    assert response.status_code == 201
    assert (await client.get("/items")).json() == ["lamp"]


async def test_list_starts_empty(client: httpx.AsyncClient) -> None:
    assert (await client.get("/items")).json() == []
