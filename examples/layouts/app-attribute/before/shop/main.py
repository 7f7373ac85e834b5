"""The API: add an item, list the items. A startup handler hangs the client on the app."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from loopsafe_mongo import guard
from pydantic import BaseModel

from shop.config import mongo_client


class Item(BaseModel):
    name: str


def get_db(request: Request) -> Any:
    return request.app.mongodb


Db = Annotated[Any, Depends(get_db)]
app = FastAPI()


@app.on_event("startup")
async def startup_db_client() -> None:
    app.mongodb_client = guard(mongo_client())
    app.mongodb = app.mongodb_client["shop"]


@app.on_event("shutdown")
async def shutdown_db_client() -> None:
    app.mongodb_client.close()


@app.post("/items", status_code=201)
async def add_item(item: Item, db: Db) -> Item:
    await db["items"].insert_one(item.model_dump())
    return item


@app.get("/items")
async def list_items(db: Db) -> list[Item]:
    return [Item(name=doc["name"]) async for doc in db["items"].find({})]
