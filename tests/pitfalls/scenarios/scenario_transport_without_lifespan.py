"""Pitfall: httpx's ASGITransport does not run the lifespan, so requests reach an app with no database handle.

Also when the lifespan does run: its state reaches requests only through the app it returns, not the raw app.
"""

from __future__ import annotations

import httpx
import pytest
from loopsafe_mongo import run_lifespan

from app.main import create_app
from app.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_list_items_without_lifespan() -> None:
    app = create_app(Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get("/items")
    assert response.status_code == 200


async def test_list_items_through_the_raw_app() -> None:
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app)  # the pitfall: `app`, not the running app run_lifespan yields
    async with run_lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/items")
    assert response.status_code == 200
