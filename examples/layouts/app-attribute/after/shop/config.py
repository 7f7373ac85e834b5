"""Where the database is: MONGODB_URL, or in memory (mongomock-motor) when it is unset."""

import os
from typing import Any

from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient

MONGODB_URL = os.environ.get("MONGODB_URL", "")


def mongo_client() -> Any:
    """What a real project writes as `AsyncIOMotorClient(settings.MONGO_URL)`."""
    return AsyncIOMotorClient(MONGODB_URL) if MONGODB_URL else AsyncMongoMockClient()
