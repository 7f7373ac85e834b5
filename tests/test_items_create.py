"""POST /items: what a valid item becomes, and every way a create is refused."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest

from app.database import Database
from tests.support.api import assert_problem, create_item

pytestmark = pytest.mark.anyio


async def test_create_returns_201_with_the_item_location_and_etag(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "bolt", "tags": ["metal"], "quantity": 3})

    assert response.status_code == 201
    item = response.json()
    assert response.headers["location"] == f"http://test/items/{item['id']}"
    assert response.headers["etag"] == '"1"'
    assert item["name"] == "bolt"
    assert item["tags"] == ["metal"]
    assert item["quantity"] == 3


async def test_create_fills_defaults_id_version_and_utc_timestamps(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "nut")

    assert re.fullmatch(r"[0-9a-f]{24}", item["id"])
    assert item["description"] is None
    assert item["tags"] == []
    assert item["quantity"] == 0
    assert item["version"] == 1
    created = datetime.fromisoformat(item["created_at"])
    assert created.utcoffset() is not None
    assert created.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert item["updated_at"] == item["created_at"]


async def test_create_writes_the_document_the_api_returns(client: httpx.AsyncClient, db: Database) -> None:
    item = await create_item(client, "washer", description="flat", tags=["a", "b"], quantity=7)

    stored = await db["items"].find_one({"name": "washer"})

    assert stored is not None
    assert str(stored["_id"]) == item["id"]
    assert stored["description"] == "flat"
    assert stored["tags"] == ["a", "b"]
    assert stored["quantity"] == 7
    assert stored["version"] == 1
    assert stored["created_at"].isoformat().replace("+00:00", "Z") == item["created_at"]


async def test_create_with_a_taken_name_is_409_and_stores_nothing(client: httpx.AsyncClient, db: Database) -> None:
    await create_item(client, "gear")

    response = await client.post("/items", json={"name": "gear", "quantity": 5})

    assert_problem(response, 409)
    assert len(await db["items"].find({}, sort=[("_id", 1)], limit=10).to_list(None)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "name", id="missing-name"),
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": "x" * 101}, "name", id="name-too-long"),
        pytest.param({"name": 5}, "name", id="name-not-a-string"),
        pytest.param({"name": {"$ne": None}}, "name", id="name-is-an-operator-object"),
        pytest.param({"name": "a", "description": "d" * 1001}, "description", id="description-too-long"),
        pytest.param({"name": "a", "tags": ["t"] * 21}, "tags", id="too-many-tags"),
        pytest.param({"name": "a", "tags": [""]}, "tags", id="empty-tag"),
        pytest.param({"name": "a", "tags": ["t" * 31]}, "tags", id="tag-too-long"),
        pytest.param({"name": "a", "tags": "t"}, "tags", id="tags-not-a-list"),
        pytest.param({"name": "a", "quantity": -1}, "quantity", id="negative-quantity"),
        pytest.param({"name": "a", "quantity": 1.5}, "quantity", id="fractional-quantity"),
        pytest.param({"name": "a", "quantity": "3"}, "quantity", id="quantity-as-string"),
        pytest.param({"name": "a", "quantity": True}, "quantity", id="quantity-as-boolean"),
        pytest.param({"name": "a", "colour": "red"}, "colour", id="unknown-field"),
        pytest.param({"name": "a", "version": 9}, "version", id="server-owned-field"),
    ],
)
async def test_create_with_an_invalid_body_is_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, body: dict[str, object], field: str
) -> None:
    response = await client.post("/items", json=body)

    problem = assert_problem(response, 422)
    assert any(field in error["loc"] for error in problem["errors"]), problem
    assert await db["items"].find_one({}) is None


async def test_create_with_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", content=b'{"name": ', headers={"content-type": "application/json"})

    assert_problem(response, 400)


async def test_an_unknown_field_name_is_not_echoed_back_in_full(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "a", "k" * 60_000: 1})

    problem = assert_problem(response, 422)
    assert len(response.content) < 2_000
    assert problem["errors"][0]["loc"][1].startswith("kkk")
