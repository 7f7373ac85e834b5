"""Exercise 5: the lifespan runs on the test's loop; a sync fixture seeds through its client with asyncio.run()."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
def seeded(db: Any) -> None:
    asyncio.run(db["items"].insert_one({"name": "lamp"}))  # the pitfall: a second event loop


async def test_lists_seeded_item(client: httpx.AsyncClient, seeded: None) -> None:
    assert (await client.get("/items")).json() == ["lamp"]
