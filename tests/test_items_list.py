"""GET /items: pages in creation order, stable cursors, the tag filter, and bad paging input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.database import Database
from tests.support.api import assert_problem, create_item

pytestmark = pytest.mark.anyio


async def _names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_list_of_an_empty_collection_is_one_empty_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/items")

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_list_returns_items_in_creation_order(client: httpx.AsyncClient) -> None:
    for name in ["c", "a", "b"]:
        await create_item(client, name)

    assert await _names(await client.get("/items")) == ["c", "a", "b"]


async def test_list_defaults_to_pages_of_20(client: httpx.AsyncClient) -> None:
    for n in range(21):
        await create_item(client, f"item-{n:02}")

    first = await client.get("/items")

    assert len(first.json()["items"]) == 20
    assert first.json()["next_cursor"] is not None


async def test_following_cursors_visits_every_item_once(client: httpx.AsyncClient) -> None:
    for n in range(7):
        await create_item(client, f"item-{n}")
    seen: list[str] = []
    pages = 0
    cursor: str | None = None

    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/items", params=params)).json()
        seen += [item["name"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"item-{n}" for n in range(7)]
    assert pages == 3


async def test_inserts_between_pages_neither_skip_nor_repeat_items(client: httpx.AsyncClient) -> None:
    for name in ["a", "b", "c", "d"]:
        await create_item(client, name)
    first = (await client.get("/items", params={"limit": 2})).json()

    await create_item(client, "e")
    second = (await client.get("/items", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    third = (await client.get("/items", params={"limit": 2, "cursor": second["next_cursor"]})).json()

    names = [item["name"] for page in (first, second, third) for item in page["items"]]
    assert names == ["a", "b", "c", "d", "e"]
    assert third["next_cursor"] is None


async def test_deletes_between_pages_do_not_break_the_cursor(client: httpx.AsyncClient) -> None:
    items = [await create_item(client, name) for name in ["a", "b", "c"]]
    first = (await client.get("/items", params={"limit": 2})).json()

    await client.delete(f"/items/{items[1]['id']}")
    second = (await client.get("/items", params={"limit": 2, "cursor": first["next_cursor"]})).json()

    assert [item["name"] for item in second["items"]] == ["c"]


async def test_tag_filter_returns_only_items_with_that_tag(client: httpx.AsyncClient) -> None:
    await create_item(client, "red-1", tags=["red"])
    await create_item(client, "blue", tags=["blue"])
    await create_item(client, "red-2", tags=["blue", "red"])

    assert await _names(await client.get("/items", params={"tag": "red"})) == ["red-1", "red-2"]


async def test_tag_filter_pages_with_cursors(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await create_item(client, f"t{n}", tags=["x"] if n % 2 == 0 else [])

    first = (await client.get("/items", params={"tag": "x", "limit": 2})).json()
    second = (await client.get("/items", params={"tag": "x", "limit": 2, "cursor": first["next_cursor"]})).json()

    assert [i["name"] for i in first["items"] + second["items"]] == ["t0", "t2", "t4"]
    assert second["next_cursor"] is None


async def test_list_reads_what_was_seeded_directly_in_the_database(client: httpx.AsyncClient, db: Database) -> None:
    # Seeding through `db` works because it is the very handle the app uses, on this test's loop.
    item = await create_item(client, "template")
    seeded = {k: v for k, v in (await db["items"].find_one({"name": "template"}) or {}).items() if k != "_id"}
    await db["items"].insert_one({**seeded, "name": "seeded"})

    assert await _names(await client.get("/items")) == [item["name"], "seeded"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-zero"),
        pytest.param({"limit": 101}, "limit", id="limit-over-100"),
        pytest.param({"limit": "ten"}, "limit", id="limit-not-a-number"),
        pytest.param({"cursor": "not-a-cursor"}, "cursor", id="cursor-garbage"),
        pytest.param({"cursor": "AAAA"}, "cursor", id="cursor-wrong-length"),
        pytest.param({"cursor": ""}, "cursor", id="cursor-empty"),
        pytest.param({"tag": "t" * 31}, "tag", id="tag-too-long"),
    ],
)
async def test_list_with_bad_paging_input_is_422(client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    response = await client.get("/items", params=params)

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", field]
