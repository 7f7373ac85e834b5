"""Small helpers shared by the API tests, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from app.database import Database
from app.models import Problem

PROBLEM_JSON = "application/problem+json"


async def create_item(client: httpx.AsyncClient, name: str = "widget", **fields: Any) -> dict[str, Any]:
    """POST an item and return its JSON body, failing loudly if the API refused it."""
    response = await client.post("/items", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_until_ok(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET `path` every 100 ms until it answers 200 (the app recovering); anything but 200 or 503 fails."""
    while (response := await client.get(path)).status_code != 200:
        assert response.status_code == 503, response.text
        await anyio.sleep(0.1)
    return response


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with this status, in the documented shape; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert body["title"]
    assert set(body) <= {"type", "title", "status", "detail", "errors", "errors_omitted"}, body
    Problem.model_validate(body)
    return body


Snapshot = dict[str, list[dict[str, Any]]]


async def snapshot(db: Database) -> Snapshot:
    """Every document of every collection, in a stable order: compare before and after a request."""
    return {
        name: await db[name].find({}, sort=[("_id", 1)], limit=0).to_list(None)
        for name in sorted(await db.list_collection_names())
    }
