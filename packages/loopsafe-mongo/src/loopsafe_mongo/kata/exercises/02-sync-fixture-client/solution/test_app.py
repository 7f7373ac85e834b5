"""Exercise 2, solved: the tests use the app's own database handle, made on each test's loop."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
async def items(db: Any) -> Any:
    return db["items"]  # the plugin's `db`: the app's handle, from a lifespan run on this test's loop


async def test_insert_is_counted(items: Any) -> None:
    await items.insert_one({"name": "lamp"})
    assert await items.count_documents({}) == 1


async def test_name_is_stored(items: Any) -> None:
    await items.insert_one({"name": "desk"})
    assert await items.find_one({"name": "desk"}) is not None
