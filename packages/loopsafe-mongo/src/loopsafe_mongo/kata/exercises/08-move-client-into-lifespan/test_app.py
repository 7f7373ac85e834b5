"""Exercise 8: the tests as an adopter of loopsafe-mongo writes them, with the plugin's `client` and `db` fixtures.

Leave this file as it is: fix app.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_added_item_is_listed(client: httpx.AsyncClient) -> None:
    assert (await client.post("/items", json={"name": "lamp"})).status_code == 201
    assert (await client.get("/items")).json() == ["lamp"]


async def test_added_item_is_stored(client: httpx.AsyncClient, db: Any) -> None:
    await client.post("/items", json={"name": "desk"})
    assert await db["items"].find_one({"name": "desk"}) is not None


async def test_unknown_item_is_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/items/chair")).status_code == 404
