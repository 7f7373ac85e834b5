"""Exercise 5, solved: an async fixture seeds through the app's client, on the test's own loop."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
async def seeded(db: Any) -> None:
    await db["items"].insert_one({"name": "lamp"})


async def test_lists_seeded_item(client: httpx.AsyncClient, seeded: None) -> None:
    assert (await client.get("/items")).json() == ["lamp"]
