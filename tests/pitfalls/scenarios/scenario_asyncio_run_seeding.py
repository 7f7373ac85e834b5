"""Pitfall: a sync fixture seeds data through the app's client with asyncio.run(), a loop of its own.

The lifespan runs on the test's loop, as it should; asyncio.run() then uses the client from a second loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from loopsafe_mongo import RunningApp, run_lifespan

from app.database import Database
from app.main import create_app
from app.models import ItemCreate
from app.repository import ItemRepository
from app.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def running_app() -> AsyncIterator[RunningApp]:
    async with run_lifespan(create_app(Settings())) as running:
        yield running


@pytest.fixture
def seeded(running_app: RunningApp) -> None:
    db: Database = running_app.state["db"]
    asyncio.run(ItemRepository(db).create(ItemCreate(name="lamp")))  # the pitfall: a second loop


async def test_lists_seeded_item(running_app: RunningApp, seeded: None) -> None:
    transport = httpx.ASGITransport(app=running_app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/items")
    assert [item["name"] for item in response.json()["items"]] == ["lamp"]
