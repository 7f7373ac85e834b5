"""The API: add an item, list the items, through Beanie documents initialised by a startup handler."""

from beanie import Document, init_beanie
from fastapi import FastAPI
from loopsafe_mongo import guard
from pydantic import BaseModel

from shop.config import mongo_client


class Item(BaseModel):
    name: str


class StoredItem(Document):
    name: str

    class Settings:
        name = "items"


app = FastAPI()


@app.on_event("startup")
async def app_init() -> None:
    app.db = guard(mongo_client())["shop"]
    await init_beanie(database=app.db, document_models=[StoredItem])


@app.post("/items", status_code=201)
async def add_item(item: Item) -> Item:
    await StoredItem(name=item.name).insert()
    return item


@app.get("/items")
async def list_items() -> list[Item]:
    return [Item(name=stored.name) async for stored in StoredItem.find_all()]
