"""Where the database is: MONGODB_URL. Beanie needs a server (or a wire-protocol double): not mongomock."""

import os
from typing import Any

from pymongo import AsyncMongoClient

MONGODB_URL = os.environ.get("MONGODB_URL", "")


def mongo_client() -> Any:
    """What a real project writes as `AsyncMongoClient(settings.MONGO_URL)` (Beanie 2 runs on PyMongo only)."""
    if not MONGODB_URL:
        raise RuntimeError("Set MONGODB_URL to a MongoDB server: Beanie does not run on mongomock.")
    return AsyncMongoClient(MONGODB_URL)
