from fastapi.testclient import TestClient
from shop.database import get_db


def test_an_added_item_is_listed(client: TestClient) -> None:
    client.post("/items", json={"name": "pen"})

    assert client.get("/items").json() == [{"name": "pen"}]


async def test_an_added_item_is_stored(client: TestClient) -> None:
    client.post("/items", json={"name": "ink"})

    assert await (await get_db())["items"].count_documents({"name": "ink"}) == 1
