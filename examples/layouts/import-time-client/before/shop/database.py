"""The client, made when this module is first imported: the layout this project shows."""

from typing import Any

from loopsafe_mongo import guard

from shop.config import mongo_client

client = guard(mongo_client())
db = client["shop"]


def get_db() -> Any:
    return db
