"""DELETE /items/{id}: removal, If-Match, and absent or malformed ids."""

from __future__ import annotations

import httpx
import pytest

from app.database import Database
from tests.support.api import assert_problem, create_item

pytestmark = pytest.mark.anyio


async def test_delete_is_204_and_removes_the_document(client: httpx.AsyncClient, db: Database) -> None:
    item = await create_item(client, "old")

    response = await client.delete(f"/items/{item['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert await db["items"].find_one({"name": "old"}) is None


async def test_a_deleted_item_is_gone(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "old")
    await client.delete(f"/items/{item['id']}")

    assert_problem(await client.get(f"/items/{item['id']}"), 404)
    assert_problem(await client.delete(f"/items/{item['id']}"), 404)


async def test_delete_with_the_current_version_in_if_match_applies(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "old")

    response = await client.delete(f"/items/{item['id']}", headers={"If-Match": '"1"'})

    assert response.status_code == 204


async def test_delete_with_a_stale_if_match_is_412_and_keeps_the_item(client: httpx.AsyncClient, db: Database) -> None:
    item = await create_item(client, "old")
    await client.patch(f"/items/{item['id']}", json={"quantity": 1})

    response = await client.delete(f"/items/{item['id']}", headers={"If-Match": '"1"'})

    assert_problem(response, 412)
    assert await db["items"].find_one({"name": "old"}) is not None


async def test_delete_an_absent_item_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/items/0123456789abcdef01234567"), 404)


async def test_delete_with_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/items/xyz"), 422)
