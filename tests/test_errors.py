"""Unexpected failures still answer in the documented problem shape, without internals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from loopsafe_mongo import RunningApp
from pymongo.errors import OperationFailure

from app.deps import get_items
from tests.support.api import assert_problem

pytestmark = pytest.mark.anyio

SECRET_DETAIL = "internal detail that must not leak"


class BrokenRepository:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def get(self, item_id: str) -> None:
        raise self.error


@pytest.fixture
async def tolerant_client(running_app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but server errors come back as responses instead of being raised in the test."""
    transport = httpx.ASGITransport(app=running_app.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize(
    ("error", "status"),
    [
        # Not the client's doing, and possibly passing: retry later (tests/test_server_errors.py for writes).
        pytest.param(OperationFailure(SECRET_DETAIL, 2), 503, id="database-rejected-operation"),
        pytest.param(RuntimeError(SECRET_DETAIL), 500, id="bug"),
    ],
)
async def test_an_unexpected_error_is_a_problem_without_details(
    app: FastAPI, tolerant_client: httpx.AsyncClient, error: Exception, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # monkeypatch undoes the override after the test: in --loopsafe-scope=session the app is shared.
    monkeypatch.setitem(app.dependency_overrides, get_items, lambda: BrokenRepository(error))

    response = await tolerant_client.get("/items/0123456789abcdef01234567")

    assert_problem(response, status)
    assert SECRET_DETAIL not in response.text


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/items", "GET, POST"), ("/items/0123456789abcdef01234567", "DELETE, GET, PATCH")],
)
async def test_an_unsupported_method_is_405_listing_every_allowed_method(
    client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    response = await client.request("PUT", path, json={"name": "x"})

    assert_problem(response, 405)
    assert response.headers["allow"] == allowed
