"""The client, made by the app's lifespan on the loop that serves the app, and closed when it stops."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from loopsafe_mongo import guard

from shop.config import mongo_client

db: Any = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global db
    client = guard(mongo_client())
    db = client["shop"]
    yield
    client.close()


def get_db() -> Any:
    return db
