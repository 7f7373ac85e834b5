"""Harness check: the loopsafe-mongo plugin on pytest-asyncio with one session lifespan, tests left on their own loops.

Run with `--loopsafe-scope session`, `loopsafe_async = asyncio` and auto mode, but without
`asyncio_default_test_loop_scope = session`: the `db` fixture must stop the test, naming the settings to change.
"""

from __future__ import annotations

from app.database import Database


async def test_items_start_empty(db: Database) -> None:
    assert await db["items"].find_one({}) is None
