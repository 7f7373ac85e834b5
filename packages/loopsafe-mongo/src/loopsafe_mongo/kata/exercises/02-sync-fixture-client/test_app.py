"""Exercise 2: the tests make their own client, in a sync fixture that outlives each test's loop."""

from __future__ import annotations

from typing import Any

import pytest
from loopsafe_mongo import guard
from mongomock_motor import AsyncMongoMockClient

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def items() -> Any:
    # The pitfall: a sync fixture runs with no event loop, and module scope keeps its client past each test's loop.
    return guard(AsyncMongoMockClient())["kata"]["items"]


async def test_insert_is_counted(items: Any) -> None:
    await items.insert_one({"name": "lamp"})
    assert await items.count_documents({}) == 1


async def test_name_is_stored(items: Any) -> None:
    await items.insert_one({"name": "desk"})
    assert await items.find_one({"name": "desk"}) is not None
