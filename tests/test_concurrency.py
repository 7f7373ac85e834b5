"""Many requests at once on one loop, through the harness: correct results and no loop errors."""

from __future__ import annotations

import anyio
import httpx
import pytest

from app.database import Database
from tests.support.api import create_item

pytestmark = pytest.mark.anyio

REQUESTS = 200


async def test_many_concurrent_creates_all_succeed(client: httpx.AsyncClient, db: Database) -> None:
    statuses: list[int] = []

    async def create(n: int) -> None:
        statuses.append((await client.post("/items", json={"name": f"item-{n}"})).status_code)

    async with anyio.create_task_group() as tasks:
        for n in range(REQUESTS):
            tasks.start_soon(create, n)

    assert statuses == [201] * REQUESTS
    stored = await db["items"].find({}, sort=[("_id", 1)], limit=REQUESTS + 1).to_list(None)
    assert sorted(doc["name"] for doc in stored) == sorted(f"item-{n}" for n in range(REQUESTS))


async def test_concurrent_creates_with_one_name_give_exactly_one_201(client: httpx.AsyncClient) -> None:
    statuses: list[int] = []

    async def create() -> None:
        statuses.append((await client.post("/items", json={"name": "same"})).status_code)

    async with anyio.create_task_group() as tasks:
        for _ in range(50):
            tasks.start_soon(create)

    assert sorted(statuses) == [201] + [409] * 49


@pytest.mark.usefixtures("atomic_updates")
async def test_concurrent_patches_with_one_if_match_have_exactly_one_winner(
    client: httpx.AsyncClient, db: Database
) -> None:
    item = await create_item(client, "contended", quantity=0)
    statuses: list[int] = []

    async def patch(n: int) -> None:
        response = await client.patch(f"/items/{item['id']}", json={"quantity": n}, headers={"If-Match": '"1"'})
        statuses.append(response.status_code)

    async with anyio.create_task_group() as tasks:
        for n in range(1, 31):
            tasks.start_soon(patch, n)

    assert sorted(statuses) == [200] + [412] * 29
    stored = await db["items"].find_one({"name": "contended"})
    assert stored is not None
    assert stored["version"] == 2


@pytest.mark.usefixtures("atomic_updates")
async def test_concurrent_updates_lose_no_change(client: httpx.AsyncClient) -> None:
    items = [await create_item(client, f"seed-{n}") for n in range(10)]
    failures: list[str] = []

    async def read(item_id: str) -> None:
        response = await client.get(f"/items/{item_id}")
        if response.status_code != 200:
            failures.append(response.text)

    async def update(item_id: str) -> None:
        response = await client.patch(f"/items/{item_id}", json={"quantity": 1})
        if response.status_code != 200:
            failures.append(response.text)

    async with anyio.create_task_group() as tasks:
        for _ in range(10):
            for item in items:
                tasks.start_soon(read, item["id"])
                tasks.start_soon(update, item["id"])

    assert failures == []
    versions = [(await client.get(f"/items/{item['id']}")).json()["version"] for item in items]
    assert versions == [11] * 10
