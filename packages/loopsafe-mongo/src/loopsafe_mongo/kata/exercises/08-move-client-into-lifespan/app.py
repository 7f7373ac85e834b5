"""Exercise 8: the app's MongoDB client is a module global, made at import time; the routes use it directly."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from loopsafe_mongo import guard
from mongomock_motor import AsyncMongoMockClient
from pydantic import BaseModel

client = guard(AsyncMongoMockClient())
db = client["kata"]


class Item(BaseModel):
    name: str


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/items", status_code=201)
    async def add_item(item: Item) -> Item:
        await db["items"].insert_one(item.model_dump())
        return item

    @app.get("/items")
    async def list_items() -> list[str]:
        return [document["name"] async for document in db["items"].find()]

    @app.get("/items/{name}")
    async def get_item(name: str) -> Item:
        document = await db["items"].find_one({"name": name})
        if document is None:
            raise HTTPException(status_code=404)
        return Item(name=document["name"])

    return app
