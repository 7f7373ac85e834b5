"""The API: add an item, list the items."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from shop.database import get_db


class Item(BaseModel):
    name: str


Db = Annotated[Any, Depends(get_db)]
app = FastAPI()


@app.post("/items", status_code=201)
async def add_item(item: Item, db: Db) -> Item:
    await db["items"].insert_one(item.model_dump())
    return item


@app.get("/items")
async def list_items(db: Db) -> list[Item]:
    return [Item(name=doc["name"]) async for doc in db["items"].find({})]
