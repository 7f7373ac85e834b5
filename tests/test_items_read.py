"""GET /items/{id}: an item by id, with its ETag; absent and malformed ids."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import assert_problem, create_item

pytestmark = pytest.mark.anyio


async def test_get_returns_the_item_with_its_version_as_etag(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "spring", tags=["steel"])

    response = await client.get(f"/items/{item['id']}")

    assert response.status_code == 200
    assert response.json() == item
    assert response.headers["etag"] == '"1"'


async def test_get_accepts_an_uppercase_id(client: httpx.AsyncClient) -> None:
    item = await create_item(client)

    response = await client.get(f"/items/{item['id'].upper()}")

    assert response.status_code == 200
    assert response.json()["id"] == item["id"]


async def test_get_an_absent_item_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/0123456789abcdef01234567")

    assert_problem(response, 404)


@pytest.mark.parametrize(
    "bad_id",
    ["123", "0123456789abcdef0123456z", "0123456789abcdef012345678", "%24ne", "null", "{}"],
)
async def test_get_with_a_malformed_id_is_422(client: httpx.AsyncClient, bad_id: str) -> None:
    response = await client.get(f"/items/{bad_id}")

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["path", "item_id"]
