"""PATCH /items/{id}: partial updates, versions and If-Match, duplicate names, and invalid changes."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from app.database import Database
from tests.support.api import assert_problem, create_item

pytestmark = pytest.mark.anyio


async def test_patch_changes_only_the_fields_sent_and_bumps_the_version(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "lamp", description="desk", tags=["light"], quantity=2)

    response = await client.patch(f"/items/{item['id']}", json={"quantity": 5})

    assert response.status_code == 200
    updated = response.json()
    assert updated["quantity"] == 5
    assert (updated["name"], updated["description"], updated["tags"]) == ("lamp", "desk", ["light"])
    assert updated["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert updated["created_at"] == item["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) >= datetime.fromisoformat(item["updated_at"])


async def test_patch_with_null_description_clears_it(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "lamp", description="desk")

    response = await client.patch(f"/items/{item['id']}", json={"description": None})

    assert response.json()["description"] is None


async def test_patch_with_a_matching_if_match_applies(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "lamp")

    response = await client.patch(f"/items/{item['id']}", json={"name": "lantern"}, headers={"If-Match": '"1"'})

    assert response.status_code == 200
    assert response.json()["name"] == "lantern"


async def test_patch_with_any_listed_version_or_star_applies(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "lamp")

    listed = await client.patch(f"/items/{item['id']}", json={"quantity": 1}, headers={"If-Match": '"7", "1"'})
    star = await client.patch(f"/items/{item['id']}", json={"quantity": 2}, headers={"If-Match": "*"})

    assert (listed.status_code, star.status_code) == (200, 200)
    assert star.json()["version"] == 3


@pytest.mark.parametrize("if_match", ['"2"', 'W/"1"', '"01"', '"abc"'])
async def test_patch_with_a_stale_or_non_matching_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, if_match: str
) -> None:
    item = await create_item(client, "lamp", quantity=1)

    response = await client.patch(f"/items/{item['id']}", json={"quantity": 9}, headers={"If-Match": if_match})

    assert_problem(response, 412)
    stored = await db["items"].find_one({"name": "lamp"})
    assert stored is not None
    assert (stored["quantity"], stored["version"]) == (1, 1)


async def test_patch_with_a_malformed_if_match_is_400(client: httpx.AsyncClient) -> None:
    item = await create_item(client, "lamp")

    response = await client.patch(f"/items/{item['id']}", json={"quantity": 9}, headers={"If-Match": "1"})

    assert_problem(response, 400)


async def test_patch_renaming_to_a_taken_name_is_409_and_changes_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_item(client, "first")
    second = await create_item(client, "second")

    response = await client.patch(f"/items/{second['id']}", json={"name": "first"})

    assert_problem(response, 409)
    stored = await db["items"].find_one({"name": "second"})
    assert stored is not None
    assert stored["version"] == 1


async def test_patch_an_absent_item_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/items/0123456789abcdef01234567", json={"quantity": 1})

    assert_problem(response, 404)


async def test_patch_an_absent_item_with_if_match_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/items/0123456789abcdef01234567", json={"quantity": 1}, headers={"If-Match": '"1"'})

    assert_problem(response, 404)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-fields"),
        pytest.param({"name": None}, id="null-name"),
        pytest.param({"tags": None}, id="null-tags"),
        pytest.param({"quantity": None}, id="null-quantity"),
        pytest.param({"quantity": -3}, id="negative-quantity"),
        pytest.param({"version": 5}, id="server-owned-field"),
        pytest.param({"name": {"$set": "x"}}, id="operator-object"),
    ],
)
async def test_patch_with_an_invalid_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, body: dict[str, object]
) -> None:
    item = await create_item(client, "lamp")

    response = await client.patch(f"/items/{item['id']}", json=body)

    assert_problem(response, 422)
    stored = await db["items"].find_one({"name": "lamp"})
    assert stored is not None
    assert stored["version"] == 1


async def test_patch_with_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.patch("/items/nope", json={"quantity": 1})

    assert_problem(response, 422)
