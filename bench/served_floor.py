"""The served floor: the least FastAPI app that answers bench_served's two reads, for uvicorn to serve.

`uvicorn bench.served_floor:app` with the service's environment (MONGODB_URL, MONGODB_DRIVER,
MONGODB_DB): one client made in the lifespan with the app's own driver options, two routes that run the
raw driver's queries and return the documents as stored, and nothing else: no dependencies, no response
models, no middleware of its own, no loop guard, no deadline. What it serves per second is what FastAPI
and uvicorn cost on this machine; bench_served prints this app's rate against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bson import ObjectId
from fastapi import FastAPI, HTTPException, Request

from app.settings import Settings
from bench.bench_served import PAGE_SIZE, raw_client

COLLECTION = "items"


def _as_json(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "_id": str(document["_id"]), "id": str(document["_id"])}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings = Settings()
    client = raw_client(settings.mongodb_driver.value, settings.mongodb_url.get_secret_value())
    try:
        yield {"items": client[settings.mongodb_db][COLLECTION], "db": client[settings.mongodb_db]}
    finally:
        closed = client.close()
        if closed is not None:
            await closed


app = FastAPI(lifespan=lifespan)


@app.get("/health/ready")
async def ready(request: Request) -> dict[str, str]:
    await request.state.db.command("ping")
    return {"status": "ok"}


@app.get("/items/{item_id}")
async def get_item(item_id: str, request: Request) -> dict[str, Any]:
    document = await request.state.items.find_one({"_id": ObjectId(item_id)})
    if document is None:
        raise HTTPException(404)
    return _as_json(document)


@app.get("/items")
async def list_items(request: Request, limit: int = PAGE_SIZE) -> dict[str, Any]:
    documents = await request.state.items.find({}).sort("_id", 1).limit(limit).to_list(None)
    return {"items": [_as_json(document) for document in documents], "next_cursor": None}
