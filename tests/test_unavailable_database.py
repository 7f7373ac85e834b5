"""A database that cannot be reached: the app still starts, and answers 503 quickly instead of hanging.

These tests use a real driver pointed at a closed port, so they need no server and run the same
everywhere. Recovery after a real outage is covered by tests/test_real_server_faults.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.settings import Driver
from tests.support.api import assert_problem
from tests.support.apps import serve_app, short_budget_settings

pytestmark = pytest.mark.anyio

UNREACHABLE = "mongodb://127.0.0.1:9/"


@pytest.fixture(params=list(Driver))
async def down_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The app with each real driver, configured for a server that is not there, with short budgets."""
    async with serve_app(short_budget_settings(UNREACHABLE, budget_ms=300, driver=request.param)) as client:
        yield client


async def test_liveness_does_not_touch_the_database(down_client: httpx.AsyncClient) -> None:
    assert (await down_client.get("/health/live")).status_code == 200


async def test_readiness_is_503_with_retry_after(down_client: httpx.AsyncClient) -> None:
    response = await down_client.get("/health/ready")

    assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()


async def test_reads_are_503_with_retry_after(down_client: httpx.AsyncClient) -> None:
    response = await down_client.get("/items/0123456789abcdef01234567")

    assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()


async def test_writes_are_refused_with_503_until_the_unique_index_exists(down_client: httpx.AsyncClient) -> None:
    response = await down_client.post("/items", json={"name": "x"})

    problem = assert_problem(response, 503)
    assert "indexes" in problem["detail"]
