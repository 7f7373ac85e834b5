"""The client, made by a startup handler and kept in this module's globals."""

from typing import Any

from loopsafe_mongo import guard

from shop.config import mongo_client

client: Any = None
db: Any = None


async def connect() -> None:
    global client, db
    client = guard(mongo_client())
    db = client["shop"]


async def disconnect() -> None:
    client.close()


def get_db() -> Any:
    return db
