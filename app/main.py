"""The app factory and its lifespan: the one place a MongoDB client is created, used and closed.

`create_app(settings)` only wires things together; the client is made when the lifespan starts, on the
loop that serves requests, and closed when it ends. `app` is what `uvicorn app.main:app` serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.database import DriverError, is_unavailable, open_database
from app.deps import State
from app.errors import install_error_handlers
from app.middleware import BodySizeLimitMiddleware
from app.repository import ensure_indexes
from app.routers import health, items
from app.settings import Settings


class StartupError(RuntimeError):
    """The service cannot start; the message says why and what to check."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Cheap and side-effect free: no client exists until the lifespan runs."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with open_database(settings) as db:
            try:
                # Writes rely on the unique index, so the service does not start without it.
                await ensure_indexes(db)
            except DriverError as exc:
                if not is_unavailable(exc):
                    raise
                raise StartupError(
                    f"MongoDB at {settings.redacted_url} did not answer within"
                    f" {settings.mongodb_server_selection_timeout_ms} ms while creating indexes at startup"
                    f" ({type(exc).__name__}). Check MONGODB_URL and that the server is running."
                ) from None
            yield {"db": db, "settings": settings}

    app = FastAPI(
        title="Items API",
        summary="A reference FastAPI + MongoDB service whose async client is safe for the event loop.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(items.router)
    app.include_router(health.router)
    return app


app = create_app()
