"""The API: add an item, list the items. The lifespan makes the client; routes read it from the request."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from loopsafe_mongo import guard
from pydantic import BaseModel

from shop.config import mongo_client


class Item(BaseModel):
    name: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    client = guard(mongo_client())
    yield {"db": client["shop"]}
    client.close()


def get_db(request: Request) -> Any:
    return request.state.db


Db = Annotated[Any, Depends(get_db)]
app = FastAPI(lifespan=lifespan)


@app.post("/items", status_code=201)
async def add_item(item: Item, db: Db) -> Item:
    await db["items"].insert_one(item.model_dump())
    return item


@app.get("/items")
async def list_items(db: Db) -> list[Item]:
    return [Item(name=doc["name"]) async for doc in db["items"].find({})]
