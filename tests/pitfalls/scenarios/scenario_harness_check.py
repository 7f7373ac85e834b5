"""Harness check: with our conftest.py, the lifespan moved onto pytest-asyncio's session loop, tests on their own.

Run with `--app-scope session` and pytest-asyncio in auto mode: the `db` fixture must stop the test, saying why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from fastapi import FastAPI

from app.database import Database
from tests.support.lifespan import RunningApp, run_lifespan


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app_state(app: FastAPI) -> AsyncIterator[RunningApp]:
    # Overrides the harness's anyio fixture "for speed"; auto mode still runs every test on a loop of its own.
    async with run_lifespan(app) as running:
        yield running


async def test_items_start_empty(db: Database) -> None:
    assert await db["items"].find_one({}) is None
