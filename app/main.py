"""The app factory and its lifespan: the one place a MongoDB client is created, used and closed.

`create_app(settings)` only wires things together; the client is made when the lifespan starts, on the
loop that serves requests, and closed when it ends. `app` is what `uvicorn app.main:app` serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from app.breaker import Breaker
from app.database import open_database
from app.deps import State
from app.errors import install_error_handlers
from app.middleware import BodyLimitsMiddleware
from app.repository import ItemRepository
from app.routers import health, items
from app.settings import Settings
from app.startup import IndexGate, create_indexes, create_indexes_on_server


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Cheap and side-effect free: no client exists until the lifespan runs."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with open_database(settings) as db, anyio.create_task_group() as background:
            gate = IndexGate()
            # Returns once the indexes exist, or once the database is found unreachable: retries then go on
            # in the background while the server listens (writes and readiness 503 meanwhile).
            if settings.in_memory:
                await create_indexes(db, gate, background)
            else:
                await create_indexes_on_server(db, gate, background)
            breaker = Breaker(abandoned_call_s=settings.abandoned_call_s)
            items = ItemRepository(
                db,
                deadline_s=settings.database_deadline_s,
                cancel_at_deadline=settings.may_cancel_database_calls,
                breaker=breaker,
            )
            yield {"db": db, "settings": settings, "indexes": gate, "items": items}
            await items.drain()
            background.cancel_scope.cancel()

    app = FastAPI(
        title="Items API",
        summary="A reference FastAPI + MongoDB service whose async client is safe for the event loop.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimitsMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.request_body_timeout_s
    )
    install_error_handlers(app)
    app.include_router(items.router)
    app.include_router(health.router)
    return app


app = create_app()
