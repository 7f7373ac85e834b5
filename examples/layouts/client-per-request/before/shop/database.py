"""A new client for every request, made in the dependency that hands out the database."""

from typing import Any

from loopsafe_mongo import guard

from shop.config import mongo_client


async def get_db() -> Any:
    client = guard(mongo_client())
    return client["shop"]
