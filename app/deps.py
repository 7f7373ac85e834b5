"""FastAPI dependencies, typed with `Annotated`: how a route gets what the lifespan opened (the database handle,
the repository over it, the settings).

Every dependency is an `async def`: FastAPI runs a plain `def` dependency on a worker thread, one thread
hop per dependency per request, and these do no blocking work that would need one.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

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
    # Built once per lifespan over `db`, so that a request only looks it up: built per request, it made a
    # collection handle through the loop guard and the driver every time (docs/performance.md).
    items: ItemRepository


class LifespanNotRunError(RuntimeError):
    """A request arrived at an app whose lifespan has not run, so request.state holds nothing it opened."""


def _from_state(request: Request, key: str) -> Any:
    value = getattr(request.state, key, None)
    if value is None:
        raise LifespanNotRunError(
            f"request.state has no {key!r}: the app's lifespan has not run for this app. Servers such as uvicorn"
            " run it; in tests, enter it in the test's loop and send requests to the app it ran for"
            " (the loopsafe-mongo pytest plugin's `client` fixture does both)."
        )
    return value


async def get_db(request: Request) -> Database:
    """The database handle, for routes that need it directly (readiness). The item routes use the
    repository the lifespan built over it (get_items): to point them elsewhere, override get_items."""
    db: Database = _from_state(request, "db")
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = _from_state(request, "settings")
    return settings


class IndexesNotReadyError(RuntimeError):
    """A write arrived before the unique index is known to exist (the database was down at startup)."""


async def get_index_gate(request: Request) -> IndexGate:
    gate: IndexGate = _from_state(request, "indexes")
    return gate


async def get_items(request: Request) -> ItemRepository:
    # One dependency, not one built from get_db and get_settings: FastAPI solves each sub-dependency
    # on every request, and this is on every route's path.
    items: ItemRepository = _from_state(request, "items")
    return items


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
