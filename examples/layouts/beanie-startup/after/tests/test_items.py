from httpx import AsyncClient
from shop.main import StoredItem


async def test_an_added_item_is_listed(client: AsyncClient) -> None:
    await client.post("/items", json={"name": "pen"})

    assert (await client.get("/items")).json() == [{"name": "pen"}]


async def test_an_added_item_is_stored(client: AsyncClient) -> None:
    await client.post("/items", json={"name": "ink"})

    assert await StoredItem.find(StoredItem.name == "ink").count() == 1
