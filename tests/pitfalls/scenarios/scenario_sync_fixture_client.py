"""Pitfall: a client made in a module-scoped sync fixture and used by tests that each run on their own loop.

The first test binds the client to its loop, which closes when that test ends; the next test fails.
"""

from __future__ import annotations

import pytest

from app.database import Database, create_client
from app.models import ItemCreate
from app.repository import ItemRepository
from app.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def db() -> Database:
    settings = Settings()
    # The pitfall: the client outlives the loop of the test that first uses it. A sync fixture cannot
    # await PyMongo's close() either, so the client is never closed.
    return create_client(settings)[settings.mongodb_db]


async def test_create_item(db: Database) -> None:
    item = await ItemRepository(db).create(ItemCreate(name="lamp"))
    assert item.version == 1


async def test_created_item_is_stored(db: Database) -> None:
    assert await db["items"].find_one({"name": "lamp"}) is not None
