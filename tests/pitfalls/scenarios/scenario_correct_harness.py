"""The correct pattern: the loopsafe-mongo plugin with our conftest.py (copied as it is), and plain tests.

Run once per `--loopsafe-scope`: a lifespan per test, or one session lifespan sharing anyio's one loop with every test.
"""

from __future__ import annotations

import httpx
import pytest

from app.database import Database

pytestmark = pytest.mark.anyio


async def test_create_item(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post("/items", json={"name": "lamp"})
    assert response.status_code == 201
    assert await db["items"].find_one({"name": "lamp"}) is not None


async def test_items_start_empty(client: httpx.AsyncClient) -> None:
    response = await client.get("/items")
    assert response.status_code == 200
    assert response.json()["items"] == []
