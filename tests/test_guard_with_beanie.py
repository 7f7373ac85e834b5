"""Beanie (an ODM many FastAPI teams use) accepts a guarded database handle, and stays guarded.

Beanie 2 runs on PyMongo's async client only (it dropped Motor), so this is PyMongo's test; the guard passes
Beanie's type checks because it passes `isinstance` for the driver's classes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from beanie import Document, init_beanie
from loopsafe_mongo import LoopMismatchError, guard
from pymongo import AsyncMongoClient

from tests.pitfalls.runner import server_url
from tests.support.wire_server import wire_server

pytestmark = pytest.mark.anyio


class Note(Document):
    text: str


@pytest.fixture(scope="module")
def mongodb_url() -> Iterator[str]:
    """The suite's server (MONGODB_URL), or a wire server of our own when it runs in memory."""
    if url := server_url():
        yield url
        return
    with wire_server() as url:
        yield url


@pytest.fixture
async def guarded_db(mongodb_url: str, database_name: str) -> AsyncIterator[Any]:
    client = guard(AsyncMongoClient(mongodb_url, serverSelectionTimeoutMS=5_000))
    yield client[f"{database_name}_beanie"]
    await client.drop_database(f"{database_name}_beanie")
    await client.close()


async def test_init_beanie_accepts_a_guarded_database(guarded_db: Any) -> None:
    await init_beanie(database=guarded_db, document_models=[Note])

    await Note(text="buy milk").insert()

    found = await Note.find_one(Note.text == "buy milk")
    assert found is not None
    assert found.text == "buy milk"


async def test_beanie_queries_from_another_loop_get_the_guards_error(guarded_db: Any) -> None:
    await init_beanie(database=guarded_db, document_models=[Note])

    async def find_elsewhere() -> object:
        return await Note.find_one(Note.text == "buy milk")

    with pytest.raises(LoopMismatchError):
        await asyncio.to_thread(asyncio.run, find_elsewhere())
