"""The kata's app: items in MongoDB, with the client made in the app's lifespan, on the loop that runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from loopsafe_mongo import guard
from mongomock_motor import AsyncMongoMockClient
from pydantic import BaseModel


class Item(BaseModel):
    name: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # Made on the running loop, so it belongs to that loop; the guard fails loudly on any other one.
    client = guard(AsyncMongoMockClient())
    yield {"db": client["kata"]}
    client.close()


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.post("/items", status_code=201)
    async def add_item(item: Item, request: Request) -> Item:
        await request.state.db["items"].insert_one(item.model_dump())
        return item

    @app.get("/items")
    async def list_items(request: Request) -> list[str]:
        return [document["name"] async for document in request.state.db["items"].find()]

    @app.get("/items/{name}")
    async def get_item(name: str, request: Request) -> Item:
        document = await request.state.db["items"].find_one({"name": name})
        if document is None:
            raise HTTPException(status_code=404)
        return Item(name=document["name"])

    return app
