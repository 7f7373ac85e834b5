"""Pitfall: a client created when the test module is imported, shared by the app across two async tests.

The first test binds the client to its loop; that loop closes when the test ends, so the second test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.database import create_client
from app.deps import get_items
from app.main import create_app
from app.repository import ItemRepository
from app.settings import Settings

pytestmark = pytest.mark.anyio

settings = Settings()
client = create_client(settings)  # the pitfall: made at import time, before any test loop exists
items = ItemRepository(client[settings.mongodb_db], deadline_s=settings.database_deadline_s)
app = create_app(settings)
# No lifespan runs for this app: the routes get the repository over the import-time client instead.
app.dependency_overrides[get_items] = lambda: items


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def test_items_start_empty(http: httpx.AsyncClient) -> None:
    response = await http.get("/items")
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_unknown_item_is_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/items/000000000000000000000000")
    assert response.status_code == 404
