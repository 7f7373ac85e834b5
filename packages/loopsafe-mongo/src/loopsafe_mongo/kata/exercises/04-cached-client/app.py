"""Exercise 4: the app makes its MongoDB client on the first request and caches it for good."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from loopsafe_mongo import guard
from mongomock_motor import AsyncMongoMockClient
from pydantic import BaseModel


class Item(BaseModel):
    name: str


@functools.lru_cache
def get_client() -> Any:
    return guard(AsyncMongoMockClient())  # the pitfall: made on the first request's loop, and kept for good


async def get_db() -> Any:
    return get_client()["kata"]


Database = Annotated[Any, Depends(get_db)]


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/items", status_code=201)
    async def add_item(item: Item, db: Database) -> Item:
        await db["items"].insert_one(item.model_dump())
        return item

    @app.get("/items")
    async def list_items(db: Database) -> list[str]:
        return [document["name"] async for document in db["items"].find()]

    @app.get("/items/{name}")
    async def get_item(name: str, db: Database) -> Item:
        document = await db["items"].find_one({"name": name})
        if document is None:
            raise HTTPException(status_code=404)
        return Item(name=document["name"])

    return app
