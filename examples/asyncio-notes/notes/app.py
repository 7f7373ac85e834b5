"""The app factory: the MongoDB client is made in the lifespan, on the serving loop, and guarded."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from loopsafe_mongo import guard
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient
from pydantic import BaseModel


class Note(BaseModel):
    text: str


def create_app(database: str = "notes") -> FastAPI:
    # MONGODB_URL unset or mongomock:// runs in memory; mongodb://... talks to a server.
    url = os.environ.get("MONGODB_URL") or "mongomock://localhost"

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        client = guard(AsyncMongoMockClient() if url.startswith("mongomock://") else AsyncIOMotorClient(url))
        yield {"db": client[database]}
        client.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/notes", status_code=201)
    async def add_note(note: Note, request: Request) -> Note:
        await request.state.db["notes"].insert_one(note.model_dump())
        return note

    @app.get("/notes")
    async def list_notes(request: Request) -> list[Note]:
        return [Note(text=doc["text"]) async for doc in request.state.db["notes"].find({})]

    return app
