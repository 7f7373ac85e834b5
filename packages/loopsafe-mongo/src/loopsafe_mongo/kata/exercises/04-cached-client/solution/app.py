"""Exercise 4, solved: the client is made in the lifespan, and routes read it from the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from loopsafe_mongo import guard
from mongomock_motor import AsyncMongoMockClient
from pydantic import BaseModel


class Item(BaseModel):
    name: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    client = guard(AsyncMongoMockClient())  # on the loop that runs the lifespan
    yield {"db": client["kata"]}
    client.close()


async def get_db(request: Request) -> Any:
    return request.state.db


Database = Annotated[Any, Depends(get_db)]


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)

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
