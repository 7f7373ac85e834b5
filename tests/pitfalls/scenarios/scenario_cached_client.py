"""Pitfall: a client created lazily on the first request and cached with functools.lru_cache.

The cache outlives the first test's loop, so the next test gets a client bound to a closed loop.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import httpx
import pytest

from app.database import Client, create_client
from app.deps import get_items
from app.main import create_app
from app.repository import ItemRepository
from app.settings import Settings

pytestmark = pytest.mark.anyio

settings = Settings()


@functools.lru_cache
def get_client() -> Client:
    return create_client(settings)  # the pitfall: made once, on whichever loop asks first, and kept for good


def get_cached_items() -> ItemRepository:
    return ItemRepository(get_client()[settings.mongodb_db], deadline_s=settings.database_deadline_s)


app = create_app(settings)
# No lifespan runs for this app: the routes get a repository over the cached client instead.
app.dependency_overrides[get_items] = get_cached_items


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
