"""The API: add an item, list the items. The lifespan keeps PyMongo's async client on `app.state`."""

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
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.mongo = guard(mongo_client())
    app.state.db = app.state.mongo["shop"]
    yield
    await app.state.mongo.close()  # PyMongo's AsyncMongoClient.close() is a coroutine: await it


def get_db(request: Request) -> Any:
    return request.app.state.db


Db = Annotated[Any, Depends(get_db)]
app = FastAPI(lifespan=lifespan)


@app.post("/items", status_code=201)
async def add_item(item: Item, db: Db) -> Item:
    await db["items"].insert_one(item.model_dump())
    return item


@app.get("/items")
async def list_items(db: Db) -> list[Item]:
    return [Item(name=doc["name"]) async for doc in db["items"].find({})]
