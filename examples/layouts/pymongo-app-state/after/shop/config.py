"""Where the database is: MONGODB_URL, or in memory (mongomock-motor) when it is unset."""

import os
from typing import Any

from mongomock_motor import AsyncMongoMockClient
from pymongo import AsyncMongoClient

MONGODB_URL = os.environ.get("MONGODB_URL", "")


class InMemoryClient(AsyncMongoMockClient):
    """mongomock-motor in PyMongo async's shape: its close() is awaited."""

    async def close(self) -> None:
        """Nothing to release in memory."""


def mongo_client() -> Any:
    """What a real project writes as `AsyncMongoClient(settings.MONGO_URL)`."""
    return AsyncMongoClient(MONGODB_URL) if MONGODB_URL else InMemoryClient()
