"""Pitfall: the sync TestClient runs the lifespan, then an async test awaits the app's database handle.

TestClient runs the app, lifespan included, on a loop of its own in another thread: the client is bound there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.database import Database
from app.main import create_app
from app.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as api:  # enters the lifespan: the client is created there
        yield api


def test_create_item(api: TestClient) -> None:
    response = api.post("/items", json={"name": "lamp"})
    assert response.status_code == 201


@pytest.mark.anyio
async def test_created_item_is_stored(api: TestClient) -> None:
    api.post("/items", json={"name": "desk"})
    db: Database = api.app_state["db"]
    assert await db["items"].find_one({"name": "desk"}) is not None
