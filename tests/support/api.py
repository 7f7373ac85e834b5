"""Small helpers shared by the API tests, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


async def create_item(client: httpx.AsyncClient, name: str = "widget", **fields: Any) -> dict[str, Any]:
    """POST an item and return its JSON body, failing loudly if the API refused it."""
    response = await client.post("/items", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with this status, and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert body["title"]
    return body
