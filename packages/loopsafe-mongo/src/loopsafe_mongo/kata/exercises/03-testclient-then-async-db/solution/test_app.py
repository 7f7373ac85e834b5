"""Exercise 3, solved: the sync test keeps TestClient; the async test runs the lifespan on its own loop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app import create_app


@pytest.fixture
def api() -> Iterator[TestClient]:
    with TestClient(create_app()) as api:
        yield api


def test_add_item(api: TestClient) -> None:
    assert api.post("/items", json={"name": "lamp"}).status_code == 201


@pytest.mark.anyio
async def test_added_item_is_stored(client: httpx.AsyncClient, db: Any) -> None:
    await client.post("/items", json={"name": "desk"})
    assert await db["items"].find_one({"name": "desk"}) is not None
