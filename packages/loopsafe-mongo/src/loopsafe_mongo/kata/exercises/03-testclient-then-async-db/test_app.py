"""Exercise 3: a sync TestClient runs the lifespan in a thread of its own; an async test awaits its database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app import create_app


@pytest.fixture
def api() -> Iterator[TestClient]:
    with TestClient(create_app()) as api:  # runs the lifespan, on TestClient's own loop in another thread
        yield api


def test_add_item(api: TestClient) -> None:
    assert api.post("/items", json={"name": "lamp"}).status_code == 201


@pytest.mark.anyio
async def test_added_item_is_stored(api: TestClient) -> None:
    api.post("/items", json={"name": "desk"})
    db = api.app_state["db"]  # the client TestClient's lifespan made, on TestClient's loop
    assert await db["items"].find_one({"name": "desk"}) is not None
