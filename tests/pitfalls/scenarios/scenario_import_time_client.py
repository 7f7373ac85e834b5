"""Pitfall: a client created when the test module is imported, shared by the app across two async tests.

The first test binds the client to its loop; that loop closes when the test ends, so the second test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.database import create_client
from app.deps import get_db, get_settings
from app.main import create_app
from app.settings import Settings

pytestmark = pytest.mark.anyio

settings = Settings()
client = create_client(settings)  # the pitfall: made at import time, before any test loop exists
app = create_app(settings)
app.dependency_overrides[get_db] = lambda: client[settings.mongodb_db]
# No lifespan runs for this app, so the settings the routes read come from here too.
app.dependency_overrides[get_settings] = lambda: settings


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
