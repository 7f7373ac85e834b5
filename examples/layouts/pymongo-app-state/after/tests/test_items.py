from typing import Any

from httpx import AsyncClient


async def test_an_added_item_is_listed(client: AsyncClient) -> None:
    await client.post("/items", json={"name": "pen"})

    assert (await client.get("/items")).json() == [{"name": "pen"}]


async def test_an_added_item_is_stored(client: AsyncClient, db: Any) -> None:
    await client.post("/items", json={"name": "ink"})

    assert await db["items"].count_documents({"name": "ink"}) == 1
