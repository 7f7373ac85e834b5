"""FastAPI dependencies: how a route gets the database handle the lifespan opened, typed with `Annotated`.

Every dependency is an `async def`: FastAPI runs a plain `def` dependency on a worker thread, one thread
hop per dependency per request, and these do no blocking work that would need one.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from fastapi import Depends, Request

from app.database import Database
from app.repository import ItemRepository
from app.settings import Settings
from app.startup import IndexGate


class State(TypedDict):
    """What the lifespan yields; Starlette copies it into every request's `request.state`."""

    db: Database
    settings: Settings
    indexes: IndexGate


class LifespanNotRunError(RuntimeError):
    """A request arrived at an app whose lifespan has not run, so there is no database handle."""


async def get_db(request: Request) -> Database:
    db: Database | None = getattr(request.state, "db", None)
    if db is None:
        raise LifespanNotRunError(
            "request.state has no 'db': the app's lifespan has not run for this app. Servers such as uvicorn"
            " run it; in tests, enter it in the test's loop and send requests to the app it ran for"
            " (the loopsafe-mongo pytest plugin's `client` fixture does both)."
        )
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


class IndexesNotReadyError(RuntimeError):
    """A write arrived before the unique index is known to exist (the database was down at startup)."""


async def get_index_gate(request: Request) -> IndexGate:
    gate: IndexGate = request.state.indexes
    return gate


async def get_items(
    db: Annotated[Database, Depends(get_db)], settings: Annotated[Settings, Depends(get_settings)]
) -> ItemRepository:
    return ItemRepository(db, deadline_s=settings.database_deadline_s)


async def get_writable_items(
    items: Annotated[ItemRepository, Depends(get_items)], gate: Annotated[IndexGate, Depends(get_index_gate)]
) -> ItemRepository:
    """The repository, for routes that write: only once the unique index exists."""
    if not gate.is_open:
        raise IndexesNotReadyError("the database's indexes are not confirmed yet")
    return items


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ItemsDep = Annotated[ItemRepository, Depends(get_items)]
WritableItemsDep = Annotated[ItemRepository, Depends(get_writable_items)]
IndexGateDep = Annotated[IndexGate, Depends(get_index_gate)]
