"""Apps of a test's own, for tests that need settings other than the harness's: a server they stopped,
an unreachable address, tight time budgets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from loopsafe_mongo import run_lifespan

from app.main import create_app
from app.settings import Driver, Settings


def short_budget_settings(url: str, *, budget_ms: int, driver: Driver = Driver.MOTOR, **fields: object) -> Settings:
    """Settings whose every database time budget is `budget_ms`, so faults surface quickly."""
    return Settings.model_validate(
        {
            "mongodb_url": url,
            "mongodb_driver": driver,
            "mongodb_timeout_ms": budget_ms,
            "mongodb_server_selection_timeout_ms": budget_ms,
            "mongodb_connect_timeout_ms": budget_ms,
            "ready_timeout_ms": budget_ms,
            **fields,
        }
    )


@asynccontextmanager
async def serve_app(settings: Settings, *, lifespan_timeout_s: float = 60) -> AsyncIterator[httpx.AsyncClient]:
    """A new app with `settings`, its lifespan running on this loop, and an httpx client for it."""
    async with (
        run_lifespan(create_app(settings), timeout_s=lifespan_timeout_s) as running,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=running.app), base_url="http://test") as client,
    ):
        yield client
