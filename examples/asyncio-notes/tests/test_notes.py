"""The harness at work: requests through `client`, and the app's own database handle in `db`."""

import httpx
import pytest

pytestmark = pytest.mark.asyncio


async def test_a_posted_note_is_stored(client: httpx.AsyncClient, db: object) -> None:
    response = await client.post("/notes", json={"text": "buy milk"})

    assert response.status_code == 201
    assert await db["notes"].count_documents({}) == 1  # type: ignore[index]


async def test_each_test_starts_with_no_notes(client: httpx.AsyncClient) -> None:
    response = await client.get("/notes")

    assert response.json() == []
